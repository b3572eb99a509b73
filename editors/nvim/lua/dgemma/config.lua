-- The plugin's options: defaults merged with what `setup()` (or `vim.g.dgemma`) gives.
local M = {}

M.defaults = {
  -- Server settings, sent as `initializationOptions` and `settings.dgemma` (see the server's README):
  -- e.g. { model = '/path/to/checkpoint', completion = { candidates = 1 }, sampler = { maxDenoisingSteps = 16 } }.
  settings = {},
  -- The command that starts the server; nil keeps `lsp/dgemma.lua`'s { 'dgemma-lsp', 'serve' }.
  -- With another interpreter: { '/path/to/python', '-m', 'dgemma_lsp', 'serve' }.
  cmd = nil,
  -- Filetypes the server attaches to; nil keeps `lsp/dgemma.lua`'s list.
  filetypes = nil,
  -- Call `vim.lsp.enable('dgemma')`; false when you enable it yourself.
  enable_lsp = true,
  inline = {
    enabled = true,
    -- 'auto': ask as you type (debounced); 'manual': only on the trigger key.
    trigger = 'auto',
    debounce_ms = 150,
    -- 'auto': Neovim's own `vim.lsp.inline_completion` on 0.12+ (unless trigger is 'manual'), else extmarks.
    -- 'native' or 'extmarks' force one.
    engine = 'auto',
    hl_group = 'DgemmaGhostText',
  },
  -- Insert-mode keys; set one to false to leave it unmapped. None takes <Tab>.
  keymaps = {
    accept = '<M-l>',
    accept_word = '<M-Right>',
    accept_line = '<M-Down>',
    next = '<M-]>',
    prev = '<M-[>',
    dismiss = '<C-]>',
    trigger = '<M-\\>',
  },
}

M.options = vim.deepcopy(M.defaults)

---@param opts table|nil
function M.apply(opts)
  M.options = vim.tbl_deep_extend('force', vim.deepcopy(M.defaults), vim.g.dgemma or {}, opts or {})
  return M.options
end

return M

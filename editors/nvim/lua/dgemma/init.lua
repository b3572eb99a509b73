-- dgemma-lsp in Neovim: enables the `dgemma` LSP config, draws inline completions, maps the keys, and offers
-- "Fill this function" through the standard code action UI. `setup()` is optional: with no call the plugin
-- file runs it with the defaults (or `vim.g.dgemma`).
local config = require('dgemma.config')
local status = require('dgemma.status')

local M = {}

local FILL_FUNCTION = 'Fill this function'

--- The engine for inline completions: Neovim's own on 0.12+, our extmarks otherwise (or when asked).
function M.engine()
  local opts = config.options.inline
  local native = require('dgemma.native')
  if opts.engine == 'native' or (opts.engine == 'auto' and opts.trigger == 'auto' and native.available()) then
    return native
  end
  return require('dgemma.inline')
end

local function dgemma_client(bufnr)
  return vim.lsp.get_clients({ bufnr = bufnr, name = 'dgemma' })[1]
end

-- Each key does its action when there is something to act on and falls through to its usual meaning otherwise.
local ACTIONS = {
  accept = function(engine, bufnr) return engine.accept(bufnr, 'all') end,
  accept_word = function(engine, bufnr) return engine.accept(bufnr, 'word') end,
  accept_line = function(engine, bufnr) return engine.accept(bufnr, 'line') end,
  next = function(engine, bufnr) return engine.cycle(bufnr, 1) end,
  prev = function(engine, bufnr) return engine.cycle(bufnr, -1) end,
  dismiss = function(engine, bufnr) return engine.dismiss(bufnr) end,
  trigger = function(engine, bufnr) return engine.trigger(bufnr) end,
}

local function map_keys(bufnr)
  for name, lhs in pairs(config.options.keymaps) do
    local action = ACTIONS[name]
    if lhs and action then
      vim.keymap.set('i', lhs, function()
        if not action(M.engine(), bufnr) then
          vim.api.nvim_feedkeys(vim.keycode(lhs), 'n', false)
        end
      end, { buffer = bufnr, desc = 'dgemma: ' .. name:gsub('_', ' ') })
    end
  end
end

local function on_attach(args)
  local client = vim.lsp.get_client_by_id(args.data.client_id)
  if not client or client.name ~= 'dgemma' then
    return
  end
  M.engine().attach(args.buf, client.id)
  map_keys(args.buf)
end

--- One clear message, once, when the server command cannot run: Neovim's `vim.lsp.enable` skips such a config
--- without a word. Said when the first buffer the server would serve is open, not at start-up.
local function warn_if_missing(group)
  local resolved = vim.lsp.config.dgemma or {}
  local cmd = resolved.cmd
  if type(cmd) ~= 'table' or vim.fn.executable(cmd[1]) == 1 then
    return
  end
  local filetypes = resolved.filetypes or {}
  local function warn()
    if M.missing_server_reported then
      return
    end
    M.missing_server_reported = true
    vim.notify(
      ('dgemma: cannot start the language server: `%s` is not on PATH or not executable. Install it '
        .. '(pip install dgemma-lsp) or set its command: '
        .. "require('dgemma').setup({ cmd = { '/path/to/python', '-m', 'dgemma_lsp', 'serve' } })"):format(cmd[1]),
      vim.log.levels.ERROR
    )
  end
  for _, bufnr in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(bufnr) and vim.tbl_contains(filetypes, vim.bo[bufnr].filetype) then
      return warn()
    end
  end
  vim.api.nvim_create_autocmd('FileType', { group = group, pattern = filetypes, once = true, callback = warn })
end

---@param opts table|nil see `require('dgemma.config').defaults`
function M.setup(opts)
  local options = config.apply(opts)
  vim.api.nvim_set_hl(0, 'DgemmaGhostText', { link = 'Comment', default = true })
  vim.api.nvim_set_hl(0, 'DgemmaGhostHint', { link = 'NonText', default = true })

  local overrides = {}
  if next(options.settings) ~= nil then
    overrides.init_options = options.settings
    overrides.settings = { dgemma = options.settings }
  end
  overrides.cmd, overrides.filetypes = options.cmd, options.filetypes
  if next(overrides) ~= nil then
    vim.lsp.config('dgemma', overrides)
  end

  local group = vim.api.nvim_create_augroup('dgemma', { clear = true })
  vim.api.nvim_create_autocmd('LspAttach', { group = group, callback = on_attach })
  vim.api.nvim_create_autocmd('LspProgress', { group = group, callback = status.on_progress })
  warn_if_missing(group)
  if options.enable_lsp then
    vim.lsp.enable('dgemma')
  end
  M.did_setup = true
end

--- Run "Fill this function" on the function under the cursor: the server fills it and applies the edit.
--- The same action is offered in the usual code action menu (`gra`).
function M.fill_function()
  vim.lsp.buf.code_action({
    filter = function(action) return action.title == FILL_FUNCTION end,
    apply = true,
  })
end

--- Turn automatic inline completions on or off (the trigger key keeps working on 0.11).
function M.toggle()
  local opts = config.options.inline
  opts.enabled = not opts.enabled
  local native = require('dgemma.native')
  if M.engine() == native then
    for _, client in ipairs(vim.lsp.get_clients({ name = 'dgemma' })) do
      vim.lsp.inline_completion.enable(opts.enabled, { client_id = client.id })
    end
  end
  vim.notify('dgemma: inline completions ' .. (opts.enabled and 'on' or 'off'))
  return opts.enabled
end

--- A short status for statuslines: "dgemma: ready", "dgemma: loading model X", ...
function M.status(bufnr)
  local client = dgemma_client(bufnr or 0)
  if not client then
    return ''
  end
  local entry = status.of(client.id)
  return 'dgemma: ' .. (entry.state == 'loading' and entry.message or entry.state)
end

return M

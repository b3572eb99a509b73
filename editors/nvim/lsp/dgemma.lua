-- dgemma-lsp for Neovim's built-in client (0.11+): `vim.lsp.enable('dgemma')`.
-- Settings go in `init_options` (read once at start) and `settings.dgemma` (sent on change); same keys as the
-- server's README: model, completion.*, sampler.*, context.*. An empty table means the server's defaults.
---@type vim.lsp.Config
return {
  cmd = { 'dgemma-lsp', 'serve' },
  filetypes = {
    'python',
    'javascript',
    'javascriptreact',
    'typescript',
    'typescriptreact',
    'go',
    'rust',
  },
  root_markers = { '.git', 'pyproject.toml', 'package.json', 'go.mod', 'Cargo.toml' },
  init_options = vim.empty_dict(),
  settings = { dgemma = vim.empty_dict() },
}

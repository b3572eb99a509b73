-- `:checkhealth dgemma`: Neovim, the server command and its version, and each running server's model.
local M = {}

--- The server command with `serve ...` replaced by `--version` ({ 'dgemma-lsp', '--version' }).
local function version_command(cmd)
  local out = {}
  for _, part in ipairs(cmd) do
    if part == 'serve' then
      out[#out + 1] = '--version'
      return out
    end
    out[#out + 1] = part
  end
  return nil
end

local function check_command(health)
  local cmd = (vim.lsp.config.dgemma or {}).cmd
  if type(cmd) ~= 'table' then
    health.info('server command: a function (not checked)')
    return
  end
  if vim.fn.executable(cmd[1]) == 0 then
    health.error(('server command `%s`: not found'):format(table.concat(cmd, ' ')), {
      'pip install dgemma-lsp (into an environment whose bin/ is on PATH)',
      "or require('dgemma').setup({ cmd = { '/path/to/python', '-m', 'dgemma_lsp', 'serve' } })",
    })
    return
  end
  health.ok(('server command: `%s`'):format(table.concat(cmd, ' ')))
  local probe = version_command(cmd)
  if probe then
    local ok, result = pcall(function() return vim.system(probe, { text = true }):wait(15000) end)
    if ok and result.code == 0 then
      health.ok('server version: ' .. vim.trim(result.stdout))
    else
      health.warn(('`%s` failed: %s'):format(table.concat(probe, ' '), ok and vim.trim(result.stderr or '') or result))
    end
  end
end

local function check_client(health, client)
  local info = client.server_info or {}
  health.ok(('server running (client %d): %s %s'):format(client.id, info.name or '?', info.version or '?'))
  local options = client.config.init_options or {}
  local model = type(options.model) == 'string' and options.model or 'embedded (default)'
  local entry = require('dgemma.status').of(client.id)
  if entry.state == 'ready' then
    health.ok(('model: %s, ready'):format(model))
  elseif entry.state == 'failed' then
    health.error(('model: %s, failed to load (see :messages or the server log)'):format(model))
  else
    health.info(('model: %s, %s'):format(model, entry.message or entry.state))
  end
  if client.server_capabilities.inlineCompletionProvider then
    health.ok('inline completions: offered by the server')
  else
    health.warn('inline completions: not offered by this server')
  end
end

function M.check()
  local health = vim.health
  health.start('dgemma')
  if vim.fn.has('nvim-0.11') == 1 then
    health.ok('Neovim ' .. tostring(vim.version()))
  else
    health.error('Neovim 0.11 or newer is needed for vim.lsp.config / vim.lsp.enable')
  end
  local engine = require('dgemma').engine() == require('dgemma.native') and 'vim.lsp.inline_completion'
    or 'extmarks'
  health.info('inline completions drawn by: ' .. engine)
  check_command(health)
  local clients = vim.lsp.get_clients({ name = 'dgemma' })
  if #clients == 0 then
    health.info('no dgemma-lsp server running (it starts when you open a file it serves)')
  end
  for _, client in ipairs(clients) do
    check_client(health, client)
  end
end

return M

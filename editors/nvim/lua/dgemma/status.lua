-- What the server said about its model: it loads after `initialize` and reports work-done progress
-- ("loading model X" ... "model ready" / "model failed to load"). Kept per client for `:checkhealth dgemma`
-- and statuslines (`require('dgemma').status()`).
local M = {}

---@type table<integer, { state: 'starting'|'loading'|'ready'|'failed', message: string|nil }>
M.clients = {}

function M.on_progress(args)
  local client = vim.lsp.get_client_by_id(args.data.client_id)
  local value = args.data.params and args.data.params.value
  if not client or client.name ~= 'dgemma' or type(value) ~= 'table' then
    return
  end
  local entry = M.clients[client.id] or { state = 'starting' }
  if value.kind == 'begin' then
    entry.state, entry.message = 'loading', value.message
  elseif value.kind == 'end' then
    entry.state = value.message == 'model ready' and 'ready' or 'failed'
    entry.message = value.message
  end
  M.clients[client.id] = entry
end

---@return { state: string, message: string|nil }
function M.of(client_id)
  return M.clients[client_id] or { state = 'starting' }
end

return M

-- An in-process stand-in for dgemma-lsp that answers inline completions with given texts, for the tests of
-- drawing and partial accepts on suggestions the seeded tiny model does not write (several words, several lines).
-- It counts the requests it got and the ones the client cancelled.
local M = { requests = 0, cancelled = 0 }

---@param bufnr integer
---@param texts string[] the candidates, in order
---@param delay_ms integer|nil answer after this long (to leave room for a cancellation)
function M.start(bufnr, texts, delay_ms)
  M.requests, M.cancelled = 0, 0
  local next_id = 0
  return vim.lsp.start({
    name = 'dgemma',
    cmd = function(dispatchers)
      local closing = false
      return {
        request = function(method, params, callback)
          next_id = next_id + 1
          local result = vim.NIL
          if method == 'initialize' then
            result = {
              capabilities = { inlineCompletionProvider = true, textDocumentSync = 2 },
              serverInfo = { name = 'fake-dgemma', version = '0' },
            }
          elseif method == 'textDocument/inlineCompletion' then
            M.requests = M.requests + 1
            local items = {}
            for i, text in ipairs(texts) do
              items[i] = { insertText = text, range = { start = params.position, ['end'] = params.position } }
            end
            result = { items = items }
          end
          vim.defer_fn(function() callback(nil, result) end, delay_ms or 0)
          return true, next_id
        end,
        notify = function(method)
          if method == '$/cancelRequest' then
            M.cancelled = M.cancelled + 1
          elseif method == 'exit' then
            closing = true
            dispatchers.on_exit(0, 15)
          end
          return true
        end,
        is_closing = function() return closing end,
        terminate = function() closing = true end,
      }
    end,
  }, { bufnr = bufnr, reuse_client = function() return false end })
end

return M

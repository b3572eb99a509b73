-- Drawing a suggestion as ghost text: the first line inline at the cursor (`virt_text`), the others below it
-- (`virt_lines`), in one extmark so that clearing is one call.
local text = require('dgemma.text')

local M = {}

M.namespace = vim.api.nvim_create_namespace('dgemma.ghost')
M.hint_group = 'DgemmaGhostHint'

---@param bufnr integer
---@param row integer 0-based
---@param col integer 0-based byte column
---@param suggestion string
---@param hl_group string
---@param hint string|nil shown after the last line, e.g. " (2/3)"
function M.show(bufnr, row, col, suggestion, hl_group, hint)
  M.clear(bufnr)
  local lines = text.lines(suggestion)
  local virt_lines = {}
  for i = 2, #lines do
    virt_lines[#virt_lines + 1] = { { lines[i], hl_group } }
  end
  local last = #virt_lines > 0 and virt_lines[#virt_lines] or nil
  local first = { { lines[1], hl_group } }
  if hint then
    table.insert(last or first, { hint, M.hint_group })
  end
  vim.api.nvim_buf_set_extmark(bufnr, M.namespace, row, col, {
    virt_text = first,
    virt_text_pos = 'inline',
    virt_lines = #virt_lines > 0 and virt_lines or nil,
    hl_mode = 'combine',
  })
end

---@param bufnr integer
function M.clear(bufnr)
  if vim.api.nvim_buf_is_valid(bufnr) then
    vim.api.nvim_buf_clear_namespace(bufnr, M.namespace, 0, -1)
  end
end

--- The ghost text on screen in `bufnr` as one string (virt_text, then each virt_line after a line break); nil
--- when none. What a user sees, read back from the extmarks: the tests use it and so can statuslines.
---@param bufnr integer
---@return string|nil
function M.displayed(bufnr)
  local marks = vim.api.nvim_buf_get_extmarks(bufnr, M.namespace, 0, -1, { details = true })
  if #marks == 0 then
    return nil
  end
  local details = marks[1][4]
  local function join(chunks)
    local parts = {}
    for _, chunk in ipairs(chunks or {}) do
      if chunk[2] ~= M.hint_group then
        parts[#parts + 1] = chunk[1]
      end
    end
    return table.concat(parts)
  end
  local out = { join(details.virt_text) }
  for _, line in ipairs(details.virt_lines or {}) do
    out[#out + 1] = join(line)
  end
  return table.concat(out, '\n')
end

return M

-- Inline completions through Neovim's own `vim.lsp.inline_completion` (0.12+), written against its documented
-- API: `enable(enable, filter)`, `is_enabled(filter)`, `get({ bufnr, on_accept })` (returns whether a candidate
-- was accepted) and `select({ bufnr, count })`. Neovim then draws, debounces and cancels by itself; this module
-- maps our keys onto it and adds partial accepts through `on_accept`.
local text = require('dgemma.text')

local M = {}

function M.available()
  return vim.lsp.inline_completion ~= nil and vim.lsp.inline_completion.get ~= nil
end

function M.attach(bufnr, client_id)
  vim.lsp.inline_completion.enable(true, { bufnr = bufnr, client_id = client_id })
end

function M.detach(bufnr)
  vim.lsp.inline_completion.enable(false, { bufnr = bufnr })
end

--- Byte column where `item` starts on the cursor line, whichever range type this Neovim hands over
--- (a `vim.Range` object, or a { row, col, end_row, end_col } list in the first 0.12 builds).
local function start_of(item)
  local range = item.range
  if type(range) ~= 'table' then
    return nil
  end
  if range.to_extmark then
    local row, col = range:to_extmark()
    return row, col
  end
  return range[1], range[2]
end

--- `on_accept` callback that cuts the candidate down to the text already covered plus one word or line.
local function partial(unit)
  return function(item)
    local insert = item.insert_text
    if type(insert) ~= 'string' then
      return item -- a snippet is accepted whole
    end
    local row, col = start_of(item)
    local cursor = vim.api.nvim_win_get_cursor(0)
    local covered = ''
    if row == cursor[1] - 1 and col and col < cursor[2] then
      covered = vim.api.nvim_get_current_line():sub(col + 1, cursor[2])
    end
    local rest = text.remaining(insert, covered)
    if not rest then
      return item
    end
    local part = unit == 'word' and text.next_word(rest) or text.next_line(rest)
    item.insert_text = covered .. part
    return item
  end
end

---@param unit 'all'|'word'|'line'
function M.accept(bufnr, unit)
  local opts = { bufnr = bufnr }
  if unit ~= 'all' then
    opts.on_accept = partial(unit)
  end
  return vim.lsp.inline_completion.get(opts)
end

function M.cycle(bufnr, delta)
  vim.lsp.inline_completion.select({ bufnr = bufnr, count = delta })
  return true
end

--- The native API has no "hide": turning it off for the buffer clears the ghost text, and turning it back on
--- waits for the next keystroke to ask again.
function M.dismiss(bufnr)
  if not vim.lsp.inline_completion.is_enabled({ bufnr = bufnr }) then
    return false
  end
  vim.lsp.inline_completion.enable(false, { bufnr = bufnr })
  vim.lsp.inline_completion.enable(true, { bufnr = bufnr })
  return true
end

--- Neovim asks by itself as you type; the trigger key re-arms it so that the next cursor event asks again.
function M.trigger(bufnr)
  return M.dismiss(bufnr)
end

return M

-- Plain text helpers for ghost text: how much of a suggestion a partial accept takes, and whether what the user
-- typed still agrees with it. No editor state here, so they are tested as tables of cases.
local M = {}

-- Bytes >= 0x80 count as word characters so that a UTF-8 identifier is one word.
local WORD = '[%w_\128-\255]'

--- The next word of `text`: leading whitespace (line breaks included) plus one run of word characters, or one
--- run of punctuation when no word comes first. Whitespace alone is taken whole.
---@param text string
---@return string
function M.next_word(text)
  local space = text:match('^%s*')
  local rest = text:sub(#space + 1)
  local run = rest:match('^' .. WORD .. '+') or rest:match('^[^%s%w_\128-\255]+') or ''
  return space .. run
end

--- The rest of the current line of `text`; when `text` starts at a line break, that break and the next line.
---@param text string
---@return string
function M.next_line(text)
  local lead = text:match('^\r?\n') or ''
  local body = text:sub(#lead + 1)
  local stop = body:find('\r?\n')
  return lead .. (stop and body:sub(1, stop - 1) or body)
end

--- What is left of `suggestion` after the user typed `typed` at its anchor; nil when the typing disagrees.
---@param suggestion string
---@param typed string
---@return string|nil
function M.remaining(suggestion, typed)
  if suggestion:sub(1, #typed) ~= typed then
    return nil
  end
  return suggestion:sub(#typed + 1)
end

--- `text` as editor lines ({ 'a', 'b' } for "a\nb"), the form `nvim_buf_set_text` takes.
---@param text string
---@return string[]
function M.lines(text)
  return vim.split(text:gsub('\r\n', '\n'), '\n', { plain = true })
end

return M

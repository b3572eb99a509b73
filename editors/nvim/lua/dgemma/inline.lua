-- Inline completions drawn with extmarks (Neovim 0.11, which has no `vim.lsp.inline_completion`).
--
-- Per buffer: a debounce timer, at most one request in flight, and the candidates of the last answer anchored
-- where the cursor was when it was asked. A request is cancelled as soon as the cursor leaves that place or
-- insert mode ends; an answer for a place the cursor has left is dropped. The ghost text stays while what the
-- user types agrees with it, and goes on the first keystroke that does not.
local config = require('dgemma.config')
local ghost = require('dgemma.ghost')
local text = require('dgemma.text')

local M = {}

local METHOD = 'textDocument/inlineCompletion'
local AUTOMATIC, INVOKED = 2, 1 -- lsp.InlineCompletionTriggerKind

---@class dgemma.Anchor
---@field row integer 0-based
---@field col integer 0-based byte column of the cursor when asked
---@field before string the line up to `col`
---@field after string the line after `col`

---@class dgemma.BufState
---@field timer uv.uv_timer_t|nil
---@field pending { client: vim.lsp.Client, id: integer, row: integer, col: integer, tick: integer }|nil
---@field anchor dgemma.Anchor|nil
---@field items string[] suggestions, each relative to `anchor`
---@field index integer

---@type table<integer, dgemma.BufState>
local states = {}

local function resolve(bufnr)
  return (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
end

local function client_for(bufnr)
  return vim.lsp.get_clients({ bufnr = bufnr, name = 'dgemma', method = METHOD })[1]
    or vim.lsp.get_clients({ bufnr = bufnr, name = 'dgemma' })[1]
end

---@return integer row 0-based, integer col 0-based byte
local function cursor()
  local pos = vim.api.nvim_win_get_cursor(0)
  return pos[1] - 1, pos[2]
end

local function anchor_here(bufnr)
  local row, col = cursor()
  local line = vim.api.nvim_buf_get_lines(bufnr, row, row + 1, true)[1]
  return { row = row, col = col, before = line:sub(1, col), after = line:sub(col + 1) }
end

local function stop_timer(state)
  if state.timer then
    state.timer:stop()
    state.timer:close()
    state.timer = nil
  end
end

local function cancel_pending(state)
  local pending = state.pending
  state.pending = nil
  if pending then
    pending.client:cancel_request(pending.id)
  end
end

local function forget(bufnr, state)
  state.anchor, state.items, state.index = nil, {}, 1
  ghost.clear(bufnr)
end

--- What the user typed since the anchor, if the cursor is still on the anchor's line with the text around it
--- untouched; nil otherwise.
local function typed_since_anchor(bufnr, anchor)
  local row, col = cursor()
  if row ~= anchor.row or col < anchor.col then
    return nil
  end
  local line = vim.api.nvim_buf_get_lines(bufnr, row, row + 1, true)[1]
  if line:sub(1, anchor.col) ~= anchor.before or line:sub(col + 1) ~= anchor.after then
    return nil
  end
  return line:sub(anchor.col + 1, col)
end

--- The current candidate minus what was typed since; nil when there is none or the typing disagrees.
local function visible_rest(bufnr, state)
  local suggestion = state.anchor and state.items[state.index]
  if not suggestion then
    return nil
  end
  local typed = typed_since_anchor(bufnr, state.anchor)
  return typed and text.remaining(suggestion, typed)
end

local function render(bufnr, state, hint)
  local rest = visible_rest(bufnr, state)
  if not rest or rest == '' then
    forget(bufnr, state)
    return false
  end
  local row, col = cursor()
  ghost.show(bufnr, row, col, rest, config.options.inline.hl_group, hint)
  return true
end

--- Candidate texts from an answer, made relative to the cursor: an item whose range starts before the cursor
--- repeats the text typed since, which is stripped (and the item dropped if it disagrees).
local function suggestions(bufnr, client, result, anchor)
  local out = {}
  local line = anchor.before .. anchor.after
  for _, item in ipairs(result.items or result) do
    local insert = type(item.insertText) == 'table' and item.insertText.value or item.insertText
    local start = item.range and item.range.start
    if type(insert) == 'string' and start and start.line == anchor.row then
      local start_col = vim.str_byteindex(line, client.offset_encoding, start.character, false)
      if start_col < anchor.col then
        insert = text.remaining(insert, line:sub(start_col + 1, anchor.col))
      end
    end
    if type(insert) == 'string' and insert ~= '' then
      out[#out + 1] = insert
    end
  end
  return out
end

--- Ask for completions at the cursor now.
---@param bufnr integer
---@param kind integer lsp.InlineCompletionTriggerKind
function M.request(bufnr, kind)
  bufnr = resolve(bufnr)
  local state = states[bufnr]
  local client = state and client_for(bufnr)
  if not client then
    return false
  end
  stop_timer(state)
  cancel_pending(state)
  local anchor = anchor_here(bufnr)
  local params = vim.lsp.util.make_position_params(0, client.offset_encoding)
  params.context = { triggerKind = kind }
  local tick = vim.api.nvim_buf_get_changedtick(bufnr)
  local pending
  local ok, id = client:request(METHOD, params, function(err, result)
    if state.pending ~= pending then
      return -- superseded or cancelled
    end
    state.pending = nil
    local row, col = cursor()
    local moved = row ~= anchor.row or col ~= anchor.col or vim.api.nvim_buf_get_changedtick(bufnr) ~= tick
    if err or not result or moved or not vim.startswith(vim.api.nvim_get_mode().mode, 'i') then
      return
    end
    local items = suggestions(bufnr, client, result, anchor)
    if #items == 0 then
      return
    end
    state.anchor, state.items, state.index = anchor, items, 1
    render(bufnr, state, #items > 1 and (' (1/%d)'):format(#items) or nil)
  end, bufnr)
  if ok and id then
    pending = { client = client, id = id, row = anchor.row, col = anchor.col, tick = tick }
    state.pending = pending
  end
  return ok
end

local function schedule(bufnr, state)
  stop_timer(state)
  local opts = config.options.inline
  if not opts.enabled or opts.trigger ~= 'auto' then
    return
  end
  state.timer = vim.defer_fn(function()
    state.timer = nil
    if vim.api.nvim_buf_is_valid(bufnr) and vim.api.nvim_get_current_buf() == bufnr
      and vim.startswith(vim.api.nvim_get_mode().mode, 'i') then
      M.request(bufnr, AUTOMATIC)
    end
  end, opts.debounce_ms)
end

--- Keep the ghost text while the typing agrees with it; otherwise drop it, cancel what is in flight for a
--- place the cursor has left, and (on an edit) ask again after the debounce.
local function on_cursor_or_text(bufnr, edited)
  local state = states[bufnr]
  local row, col = cursor()
  local pending = state.pending
  if pending and (pending.row ~= row or pending.col ~= col) then
    cancel_pending(state)
  end
  if state.anchor and render(bufnr, state) then
    return
  end
  if edited then
    schedule(bufnr, state)
  else
    stop_timer(state)
  end
end

--- Insert the current candidate, or its next word or line; the rest stays as ghost text.
---@param unit 'all'|'word'|'line'
---@return boolean accepted
function M.accept(bufnr, unit)
  bufnr = resolve(bufnr)
  local state = states[bufnr]
  local rest = state and visible_rest(bufnr, state)
  if not rest or rest == '' then
    return false
  end
  local part = unit == 'word' and text.next_word(rest) or unit == 'line' and text.next_line(rest) or rest
  local lines = text.lines(part)
  local row, col = cursor()
  vim.api.nvim_buf_set_text(bufnr, row, col, row, col, lines)
  local end_row = row + #lines - 1
  local end_col = (#lines == 1 and col or 0) + #lines[#lines]
  vim.api.nvim_win_set_cursor(0, { end_row + 1, end_col })
  -- Re-anchor at the new cursor so that a partial accept across a line break keeps the rest.
  state.anchor, state.items, state.index = anchor_here(bufnr), { rest:sub(#part + 1) }, 1
  render(bufnr, state)
  return true
end

---@param delta integer
---@return boolean moved
function M.cycle(bufnr, delta)
  bufnr = resolve(bufnr)
  local state = states[bufnr]
  if not state or not visible_rest(bufnr, state) then
    return false
  end
  if #state.items < 2 then
    return M.request(bufnr, INVOKED) -- one candidate so far: ask for several
  end
  local typed = typed_since_anchor(bufnr, state.anchor)
  local n = #state.items
  for step = 1, n do
    local index = (state.index - 1 + delta * step) % n + 1
    if text.remaining(state.items[index], typed) then -- skip candidates the typing rules out
      state.index = index
      return render(bufnr, state, (' (%d/%d)'):format(index, n))
    end
  end
  return false
end

---@return boolean dismissed
function M.dismiss(bufnr)
  bufnr = resolve(bufnr)
  local state = states[bufnr]
  if not state then
    return false
  end
  local shown = state.anchor ~= nil or state.pending ~= nil
  stop_timer(state)
  cancel_pending(state)
  forget(bufnr, state)
  return shown
end

function M.trigger(bufnr)
  bufnr = resolve(bufnr)
  return M.request(bufnr, INVOKED)
end

function M.attach(bufnr)
  if states[bufnr] then
    return
  end
  states[bufnr] = { items = {}, index = 1 }
  local group = vim.api.nvim_create_augroup('dgemma.inline.' .. bufnr, { clear = true })
  vim.api.nvim_create_autocmd('CursorMovedI', {
    group = group,
    buffer = bufnr,
    callback = function() on_cursor_or_text(bufnr, false) end,
  })
  vim.api.nvim_create_autocmd('TextChangedI', {
    group = group,
    buffer = bufnr,
    callback = function() on_cursor_or_text(bufnr, true) end,
  })
  vim.api.nvim_create_autocmd({ 'InsertLeave', 'BufLeave' }, {
    group = group,
    buffer = bufnr,
    callback = function() M.dismiss(bufnr) end,
  })
  vim.api.nvim_create_autocmd({ 'BufUnload', 'LspDetach' }, {
    group = group,
    buffer = bufnr,
    callback = function(args)
      if args.event == 'LspDetach' and (vim.lsp.get_client_by_id(args.data.client_id) or {}).name ~= 'dgemma' then
        return
      end
      M.detach(bufnr)
    end,
  })
end

function M.detach(bufnr)
  if not states[bufnr] then
    return
  end
  M.dismiss(bufnr)
  states[bufnr] = nil
  pcall(vim.api.nvim_del_augroup_by_name, 'dgemma.inline.' .. bufnr)
end

--- For `:checkhealth` and tests: whether a request is in flight for `bufnr`.
function M.in_flight(bufnr)
  bufnr = resolve(bufnr)
  return states[bufnr] ~= nil and states[bufnr].pending ~= nil
end

return M

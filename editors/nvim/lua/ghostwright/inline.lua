-- Ghost text from textDocument/inlineCompletion, drawn with extmarks on every Neovim version
-- (0.10+: inline virtual text, exactly where it would be inserted). Requests are debounced while
-- typing and cancelled by the next keystroke; an answer is drawn only if the buffer, cursor and
-- text are still those it was asked for, in insert mode; the text is cleared when the cursor
-- moves away, on leaving insert mode and on leaving the buffer, so it is never shown in normal
-- mode and never inserted anywhere but where it is drawn.
-- What became of each suggestion goes back to the server's feedback log through the item's
-- `ghostwright.feedback` command: accepted, partial (with the characters taken) or dismissed.
local config = require("ghostwright.config")
local lsp_client = require("ghostwright.client")
local client_of = lsp_client.get

local M = {}
local ns = vim.api.nvim_create_namespace("ghostwright")
local INLINE_VIRTUAL_TEXT = vim.fn.has("nvim-0.10") == 1
local timer = nil
-- What is shown: { bufnr, row, col, text, tick } (0-based row, byte col), or nil.
local shown = nil
local pending = nil -- { client, id }
-- The suggestion whose outcome is still to be reported: { client, bufnr, arguments, taken }.
local offer = nil

local function report(outcome, chars)
  local open = offer
  offer = nil
  if open == nil then
    return
  end
  local arguments = outcome == "accepted" and open.arguments or { open.arguments[1], outcome, chars }
  pcall(lsp_client.request, open.client, "workspace/executeCommand",
    { command = "ghostwright.feedback", arguments = arguments }, function() end, open.bufnr)
end

-- The shown suggestion is gone without being taken in full: partial or dismissed.
local function finish()
  if offer then
    if offer.taken > 0 then
      report("partial", offer.taken)
    else
      report("dismissed")
    end
  end
end

local function cancel_pending()
  if pending then
    pcall(lsp_client.cancel, pending.client, pending.id)
    pending = nil
  end
end

local function erase()
  if shown and vim.api.nvim_buf_is_valid(shown.bufnr) then
    vim.api.nvim_buf_clear_namespace(shown.bufnr, ns, 0, -1)
  end
  shown = nil
end

function M.clear()
  finish()
  erase()
end

function M.suggestion()
  return shown and shown.text or nil
end

local function cursor()
  local position = vim.api.nvim_win_get_cursor(0)
  return position[1] - 1, position[2]
end

local function render(bufnr, row, col, text)
  erase()
  if text == "" then
    return
  end
  local lines = vim.split(text, "\n", { plain = true })
  local line = vim.api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1] or ""
  local at_end = col >= #line
  local virt_lines = {}
  for index = 2, #lines do
    table.insert(virt_lines, { { lines[index], config.options.highlight } })
  end
  -- 0.10+ draws the first line inline at the cursor. 0.7-0.9 have no inline virtual text: at
  -- the end of a line it sits where it will be inserted; mid-line it is shown after the end.
  local position = INLINE_VIRTUAL_TEXT and "inline" or (at_end and "overlay" or "eol")
  vim.api.nvim_buf_set_extmark(bufnr, ns, row, (at_end and not INLINE_VIRTUAL_TEXT) and #line or col, {
    virt_text = { { lines[1], config.options.highlight } },
    virt_text_pos = position,
    virt_lines = #virt_lines > 0 and virt_lines or nil,
    hl_mode = "combine",
  })
  shown = { bufnr = bufnr, row = row, col = col, text = text,
    tick = vim.api.nvim_buf_get_changedtick(bufnr) }
end

local function on_result(client, bufnr, row, col, tick)
  return function(err, result)
    pending = nil
    if err or result == nil or not config.options.enabled then
      return
    end
    local items = result.items or result
    local item = items[1]
    local now_row, now_col = cursor()
    if item == nil or vim.api.nvim_get_current_buf() ~= bufnr or now_row ~= row or now_col ~= col
      or vim.api.nvim_buf_get_changedtick(bufnr) ~= tick or vim.fn.mode() ~= "i" then
      return -- stale: the user typed or moved on
    end
    local text = type(item.insertText) == "table" and item.insertText.value or item.insertText
    M.clear()
    render(bufnr, row, col, text or "")
    local command = item.command
    if shown and command and command.command == "ghostwright.feedback" then
      offer = { client = client, bufnr = bufnr, arguments = command.arguments, taken = 0 }
    end
  end
end

function M.request()
  local bufnr = vim.api.nvim_get_current_buf()
  local client = client_of(bufnr)
  if client == nil or not config.options.enabled then
    return
  end
  cancel_pending()
  local row, col = cursor()
  local params = vim.lsp.util.make_position_params(0, client.offset_encoding)
  params.context = { triggerKind = 2 } -- automatic
  local tick = vim.api.nvim_buf_get_changedtick(bufnr)
  local ok, id = lsp_client.request(client, "textDocument/inlineCompletion", params,
    on_result(client, bufnr, row, col, tick), bufnr)
  if ok then
    pending = { client = client, id = id }
  end
end

function M.schedule()
  if not config.options.enabled then
    return
  end
  local bufnr = vim.api.nvim_get_current_buf()
  if shown and shown.bufnr == bufnr and shown.tick == vim.api.nvim_buf_get_changedtick(bufnr) then
    return -- our own insertion of an accepted part: the rest is still on screen
  end
  M.clear()
  cancel_pending()
  if timer == nil then
    timer = (vim.uv or vim.loop).new_timer()
  end
  timer:stop()
  timer:start(config.options.debounce_ms, 0, vim.schedule_wrap(M.request))
end

-- Insert `text` at the cursor and leave the cursor after it.
local function insert(text)
  local row, col = cursor()
  local lines = vim.split(text, "\n", { plain = true })
  vim.api.nvim_buf_set_text(0, row, col, row, col, lines)
  local last_row = row + #lines - 1
  local last_col = (#lines == 1 and col or 0) + #lines[#lines]
  vim.api.nvim_win_set_cursor(0, { last_row + 1, last_col })
end

-- Whether what is drawn is still where the cursor is, in the text it was drawn for.
local function drawn_here()
  if not shown or vim.api.nvim_get_current_buf() ~= shown.bufnr or vim.fn.mode() ~= "i" then
    return false
  end
  local row, col = cursor()
  return row == shown.row and col == shown.col
    and vim.api.nvim_buf_get_changedtick(shown.bufnr) == shown.tick
end

function M.visible()
  if shown and not drawn_here() then
    M.clear() -- stale: never accepted anywhere but where it was drawn
  end
  return shown ~= nil
end

-- Accept all, or the first `part` of the suggestion; the rest stays on screen.
local function accept_part(part)
  if not M.visible() then
    return false
  end
  local text = shown.text
  local taken = part(text)
  local rest = text:sub(#taken + 1)
  erase()
  insert(taken)
  if offer then
    offer.taken = offer.taken + vim.fn.strchars(taken) -- the server counts characters
  end
  if rest ~= "" then
    local row, col = cursor()
    render(vim.api.nvim_get_current_buf(), row, col, rest)
  else
    report("accepted")
  end
  return true
end

function M.accept()
  return accept_part(function(text) return text end)
end

function M.accept_word()
  return accept_part(function(text)
    return text:match("^%s*[%w_]+") or text:match("^%s*[^%w_%s]+") or text:match("^%s+") or text
  end)
end

function M.accept_line()
  return accept_part(function(text)
    local first = text:match("^[^\n]*\n?")
    if first == "\n" then -- the suggestion starts on the next line: take that line too
      return "\n" .. (text:sub(2):match("^[^\n]*") or "")
    end
    return (first:gsub("\n$", ""))
  end)
end

function M.dismiss()
  cancel_pending()
  if timer then
    timer:stop()
  end
  M.clear()
end

-- Typing moves the cursor too; only a move that typing did not make clears the suggestion.
function M.on_cursor_moved()
  if not shown then
    return
  end
  local row, col = cursor()
  if row ~= shown.row or col ~= shown.col
    or vim.api.nvim_buf_get_changedtick(shown.bufnr) ~= shown.tick then
    M.clear()
  end
end

M.namespace = ns
return M

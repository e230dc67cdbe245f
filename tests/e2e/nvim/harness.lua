-- Shared by the headless plugin sessions: keys, the ghost text on screen, steps run in insert
-- mode, and every message the user would see.
local M = {}

function M.keys(text)
  vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes(text, true, false, true), "t", true)
end

function M.ghost_text(buf, ns)
  local marks = vim.api.nvim_buf_get_extmarks(buf, ns, 0, -1, { details = true })
  if #marks == 0 then
    return nil
  end
  local details = marks[1][4]
  local text = details.virt_text[1][1]
  for _, line in ipairs(details.virt_lines or {}) do
    text = text .. "\n" .. line[1][1]
  end
  return text
end

-- Run `steps` one after another while Neovim stays in insert mode (the event loop, LSP replies
-- and timers keep running); each step returns true when done, or a number of ms to wait.
function M.in_insert_mode(steps, timeout_ms)
  local index, waited, busy = 1, 0, false
  local timer = (vim.uv or vim.loop).new_timer()
  timer:start(50, 50, vim.schedule_wrap(function()
    -- A step that waits (request_sync) runs the event loop, and with it this timer again.
    if busy then
      return
    end
    waited = waited + 50
    if index > #steps or waited > timeout_ms then
      if index <= #steps then
        M.check("step " .. index .. " timed out", false, vim.api.nvim_get_current_line())
      end
      timer:stop()
      M.keys("<Esc>")
      return
    end
    busy = true
    local ok, done = pcall(steps[index])
    busy = false
    if not ok then
      M.check("step " .. index .. " failed", false, done)
      index = #steps + 1
    elseif done then
      index = index + 1
    end
  end))
  vim.fn.feedkeys("A", "x!") -- returns once a step sends <Esc>
  if index <= #steps then
    timer:stop()
    M.check("left insert mode at step " .. index, false, vim.fn.mode())
  end
end


-- A step that waits `ms` in insert mode.
function M.after(ms)
  local started
  return function()
    local now = (vim.uv or vim.loop).now()
    started = started or now
    return now - started >= ms
  end
end

-- Everything shown to the user through vim.notify (the plugin's messages and the server's
-- window/showMessage), recorded in order.
M.notified = {}
local notify = vim.notify
vim.notify = function(message, level, opts)
  table.insert(M.notified, message)
  return notify(message, level, opts)
end

-- Start the plugin from GHOSTWRIGHT_PLUGIN the way a user's init.lua does.
function M.load_plugin()
  vim.cmd("filetype on") -- -u NONE leaves it off; every real configuration has it
  vim.opt.runtimepath:append(os.getenv("GHOSTWRIGHT_PLUGIN"))
  vim.cmd("runtime plugin/ghostwright.lua")
  vim.o.expandtab = false
  return require("ghostwright")
end

-- The plugin's client of `buf`, once it is initialised.
function M.client_of(buf, timeout_ms)
  local client
  vim.wait(timeout_ms or 10000, function()
    client = require("ghostwright.client").get(buf)
    return client ~= nil and client.initialized
  end, 50)
  return client
end

function M.wait_ready(client, buf, timeout_ms)
  local gw = require("ghostwright.client")
  return vim.wait(timeout_ms or 20000, function()
    local status = gw.request_sync(client, "workspace/executeCommand", { command = "ghostwright.status" },
      2000, buf)
    return status and status.result and status.result.state == "ready"
  end, 100)
end

return M

-- Headless Neovim with the plugin where users met trouble: a request made while the model
-- loads, answers that arrive too late (after typing on, after leaving insert mode), toggle,
-- the code action's message when the model wrote nothing usable, and a missing server command.
-- Run like plugin_session.lua; GHOSTWRIGHT_CASE picks "edges" or "missing".
local here = debug.getinfo(1, "S").source:sub(2):match("(.*/)")
local verdict = dofile(here .. "verdict.lua")
local harness = dofile(here .. "harness.lua")
harness.check = verdict.check
local check, keys, ghost_text, in_insert_mode = verdict.check, harness.keys, harness.ghost_text,
  harness.in_insert_mode

local function native_marks(buf)
  local ns = vim.api.nvim_get_namespaces()["nvim.lsp.inline_completion"]
  return ns and #vim.api.nvim_buf_get_extmarks(buf, ns, 0, -1, {}) or 0
end

local function edges()
  local ghostwright = harness.load_plugin()
  local gw = require("ghostwright.client")
  local inline = require("ghostwright.inline")
  -- A user who also turned on Neovim's own inline completion for every server: ghostwright's
  -- suggestions must still be drawn once, by the plugin.
  if vim.lsp.inline_completion then
    vim.lsp.inline_completion.enable(true)
  end
  -- The fake model "slow" takes 2 s to load.
  ghostwright.setup({ cmd = vim.fn.json_decode(os.getenv("GHOSTWRIGHT_SERVER_CMD")), debounce_ms = 20,
    settings = { model = "slow" } })
  vim.cmd("edit " .. vim.fn.getcwd() .. "/demo.py")
  local buf = vim.api.nvim_get_current_buf()
  local client = harness.client_of(buf)

  -- Typing at once, while the model loads: the suggestion comes when it is up, no more typing.
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, { "def f(total):", "    " })
  vim.api.nvim_win_set_cursor(0, { 2, 4 })
  local loading_seen, first
  in_insert_mode({
    function()
      local status = gw.request_sync(client, "workspace/executeCommand", { command = "ghostwright.status" },
        2000, buf)
      loading_seen = status and status.result and status.result.state
      keys("ret")
      return true
    end,
    function() first = ghost_text(buf, inline.namespace) return first ~= nil end,
  }, 15000)
  check("typed while the model loaded", loading_seen ~= "ready", loading_seen)
  check("the load-time request was answered", first == "urn total", first)
  check("drawn once (not by Neovim's own inline completion too)", native_marks(buf) == 0, native_marks(buf))

  -- An answer that arrives after the user typed on is not drawn at the old place, and one that
  -- arrives after leaving insert mode is not drawn at all. "slow" answers take ~2.5 s.
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, { "def f(total):", "    " })
  vim.api.nvim_win_set_cursor(0, { 2, 4 })
  local drawn_at
  in_insert_mode({
    function() keys("x = slow") return true end,
    harness.after(300),
    function() keys("er") return true end, -- typed on while the first answer is on its way
    function()
      local marks = vim.api.nvim_buf_get_extmarks(buf, inline.namespace, 0, -1, {})
      if #marks == 0 then
        return false
      end
      drawn_at = { marks[1][2], marks[1][3], vim.api.nvim_win_get_cursor(0)[2] }
      return true
    end,
  }, 15000)
  check("drawn where the cursor is, not where it was", drawn_at and drawn_at[1] == 1
    and drawn_at[2] == drawn_at[3], drawn_at)
  check("cleared in normal mode", ghost_text(buf, inline.namespace) == nil, ghost_text(buf, inline.namespace))

  vim.api.nvim_buf_set_lines(buf, 0, -1, false, { "def f(total):", "    " })
  vim.api.nvim_win_set_cursor(0, { 2, 4 })
  in_insert_mode({
    function() keys("y = slow") return true end,
    harness.after(200),
  }, 5000) -- leaves insert mode while the answer is on its way
  vim.wait(4000, function() return ghost_text(buf, inline.namespace) ~= nil end, 50)
  check("never drawn in normal mode", ghost_text(buf, inline.namespace) == nil and native_marks(buf) == 0,
    ghost_text(buf, inline.namespace))
  check("still in normal mode", vim.fn.mode() == "n", vim.fn.mode())

  -- Toggle off: nothing is drawn and <Tab> is a tab; on again: suggestions come back.
  vim.cmd("Ghostwright toggle")
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, { "def f(total):", "    " })
  vim.api.nvim_win_set_cursor(0, { 2, 4 })
  in_insert_mode({
    function() keys("ret") return true end,
    harness.after(1000), -- the fake answers in ~50 ms
    function() keys("<Tab>") return true end,
    function() return vim.api.nvim_get_current_line() == "    ret\t" end,
  }, 5000)
  check("toggled off: no ghost text", ghost_text(buf, inline.namespace) == nil and native_marks(buf) == 0,
    ghost_text(buf, inline.namespace))
  check("toggled off: <Tab> is a tab", vim.api.nvim_get_current_line() == "    ret\t",
    vim.api.nvim_get_current_line())
  vim.cmd("Ghostwright toggle")
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, { "def f(total):", "    " })
  vim.api.nvim_win_set_cursor(0, { 2, 4 })
  local again
  in_insert_mode({
    function() keys("ret") return true end,
    function() again = ghost_text(buf, inline.namespace) return again ~= nil end,
  }, 10000)
  check("toggled on again", again == "urn total", again)

  -- The code action when the model's body does not parse: nothing written, and a message says so.
  vim.api.nvim_buf_set_lines(buf, 0, -1, false,
    { "def mean_price(items):", '    """Return the mean price, cut off."""', "    pass" })
  harness.notified = {}
  local actions = gw.request_sync(client, "textDocument/codeAction", {
    textDocument = { uri = vim.uri_from_bufnr(buf) },
    range = { start = { line = 1, character = 6 }, ["end"] = { line = 1, character = 6 } },
    context = { diagnostics = {} },
  }, 10000, buf)
  local action = actions and actions.result and actions.result[1]
  check("the action is offered", action ~= nil, actions)
  if action then
    local resolved = gw.request_sync(client, "codeAction/resolve", action, 10000, buf)
    check("no edit for a cut-off body", resolved and resolved.result and resolved.result.edit == nil, resolved)
  end
  vim.wait(3000, function() return #harness.notified > 0 end, 50)
  local said = table.concat(harness.notified, "\n")
  check("a message says why", said:find("nothing written", 1, true) ~= nil
    and said:find("does not parse", 1, true) ~= nil, harness.notified)
  check("the stub stays", vim.api.nvim_buf_get_lines(buf, 2, 3, false)[1] == "    pass",
    vim.api.nvim_buf_get_lines(buf, 0, -1, false))
end

-- The server command is not installed: one clear notification naming the setting, for any
-- number of buffers, no error, no hit-enter prompt, and the buffers work as plain buffers.
local function missing()
  local ghostwright = harness.load_plugin()
  ghostwright.setup({ cmd = { "ghostwright-is-not-installed", "serve" } })
  vim.v.errmsg = ""
  vim.cmd("edit " .. vim.fn.getcwd() .. "/one.py")
  vim.cmd("edit " .. vim.fn.getcwd() .. "/two.py")
  vim.wait(500, function() return false end)
  check("one notification", #harness.notified == 1, harness.notified)
  local said = harness.notified[1] or ""
  check("it names the command and the setting", said:find("ghostwright-is-not-installed", 1, true) ~= nil
    and said:find("cmd", 1, true) ~= nil, said)
  check("no error", vim.v.errmsg == "", vim.v.errmsg)
  check("no client", #require("ghostwright.client").all() == 0, #require("ghostwright.client").all())
  vim.api.nvim_buf_set_lines(0, 0, -1, false, { "    " })
  vim.api.nvim_win_set_cursor(0, { 1, 4 })
  in_insert_mode({
    function() keys("x<Tab>") return true end,
    function() return vim.api.nvim_get_current_line() == "    x\t" end,
  }, 3000)
  check("<Tab> still types a tab", vim.api.nvim_get_current_line() == "    x\t", vim.api.nvim_get_current_line())
end

verdict.run(os.getenv("GHOSTWRIGHT_CASE") == "missing" and missing or edges)

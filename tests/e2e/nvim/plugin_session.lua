-- Headless Neovim with the ghostwright plugin against the real server process (fake backend).
-- Run: nvim --headless -u NONE -c "luafile plugin_session.lua" with GHOSTWRIGHT_SERVER_CMD (a
-- JSON list), GHOSTWRIGHT_PLUGIN (editors/nvim) and GHOSTWRIGHT_RESULT (the verdict file).
local here = debug.getinfo(1, "S").source:sub(2):match("(.*/)")
local verdict = dofile(here .. "verdict.lua")
local harness = dofile(here .. "harness.lua")
harness.check = verdict.check
local check, keys, ghost_text, in_insert_mode = verdict.check, harness.keys, harness.ghost_text,
  harness.in_insert_mode

verdict.run(function()
  local ghostwright = harness.load_plugin()
  local gw = require("ghostwright.client")
  ghostwright.setup({ cmd = vim.fn.json_decode(os.getenv("GHOSTWRIGHT_SERVER_CMD")), debounce_ms = 20 })
  ghostwright.setup({ cmd = vim.fn.json_decode(os.getenv("GHOSTWRIGHT_SERVER_CMD")), debounce_ms = 20 })
  local path = vim.fn.getcwd() .. "/demo.py"
  vim.cmd("edit " .. path)
  local buf = vim.api.nvim_get_current_buf()
  local inline = require("ghostwright.inline")
  local client = harness.client_of(buf)
  check("one client after two setups", #require("ghostwright.client").all() == 1,
    #require("ghostwright.client").all())
  check("the model loaded", harness.wait_ready(client, buf), "not ready")
  vim.wait(300, function() return false end) -- room for any start-up message to arrive
  local startup = vim.fn.execute("messages")
  check("no deprecation or settings warning at start", not startup:find("deprecated")
    and not startup:find("unknown setting") and not startup:find("LSP"), startup)

  vim.api.nvim_buf_set_lines(buf, 0, -1, false, { "def f(total):", "    " })
  vim.api.nvim_win_set_cursor(0, { 2, 4 })
  local seen
  in_insert_mode({
    function() keys("ret") return true end,
    function() seen = ghost_text(buf, inline.namespace) return seen ~= nil end,
    function() keys("<Tab>") return true end,
    function() return vim.api.nvim_get_current_line() == "    return total" end,
  }, 10000)
  check("ghost text shown as an extmark", seen == "urn total", seen)
  check("<Tab> accepted it", vim.api.nvim_buf_get_lines(buf, 1, 2, false)[1] == "    return total",
    vim.api.nvim_buf_get_lines(buf, 0, -1, false))
  check("cleared after accepting", ghost_text(buf, inline.namespace) == nil, ghost_text(buf, inline.namespace))

  vim.api.nvim_buf_set_lines(buf, 0, -1, false, { "def f(total):", "    " })
  vim.api.nvim_win_set_cursor(0, { 2, 4 })
  local after_word
  in_insert_mode({
    function() keys("ret") return true end,
    function() return ghost_text(buf, inline.namespace) ~= nil end,
    function() keys("<M-w>") return true end,
    function()
      after_word = ghost_text(buf, inline.namespace)
      return vim.api.nvim_get_current_line() == "    return"
    end,
    function() keys("<C-]>") return true end,
    function() return ghost_text(buf, inline.namespace) == nil end,
    function() keys("<Tab>") return true end,
    function() return vim.api.nvim_get_current_line() == "    return\t" end,
  }, 10000)
  check("accept word keeps the rest shown", after_word == " total", after_word)
  check("<Tab> falls through when nothing is shown", vim.api.nvim_get_current_line() == "    return\t",
    vim.api.nvim_get_current_line())

  -- <M-l>: the rest of the line.
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, { "def f(total):", "    " })
  vim.api.nvim_win_set_cursor(0, { 2, 4 })
  in_insert_mode({
    function() keys("ret") return true end,
    function() return ghost_text(buf, inline.namespace) ~= nil end,
    function() keys("<M-l>") return true end,
    function() return vim.api.nvim_get_current_line() == "    return total" end,
  }, 10000)
  check("<M-l> accepted the line", vim.api.nvim_get_current_line() == "    return total",
    vim.api.nvim_get_current_line())

  -- Leaving insert mode clears a suggestion.
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, { "def f(total):", "    " })
  vim.api.nvim_win_set_cursor(0, { 2, 4 })
  in_insert_mode({
    function() keys("ret") return true end,
    function() return ghost_text(buf, inline.namespace) ~= nil end,
  }, 10000)
  check("cleared on leaving insert mode", ghost_text(buf, inline.namespace) == nil,
    ghost_text(buf, inline.namespace))

  -- The code action, through the plugin's client.
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, { "def add(a, b):", '    """Return the sum."""', "    pass" })
  local actions = gw.request_sync(client, "textDocument/codeAction", {
    textDocument = { uri = vim.uri_from_bufnr(buf) },
    range = { start = { line = 1, character = 6 }, ["end"] = { line = 1, character = 6 } },
    context = { diagnostics = {} },
  }, 10000, buf)
  local action = actions and actions.result and actions.result[1]
  if action and not action.edit then
    action = (gw.request_sync(client, "codeAction/resolve", action, 10000, buf) or {}).result
  end
  if action and action.edit then
    vim.lsp.util.apply_workspace_edit(action.edit, client.offset_encoding)
  end
  check("code action edited the buffer", vim.api.nvim_buf_get_lines(buf, 2, 3, false)[1] == "    return a + b",
    vim.api.nvim_buf_get_lines(buf, 0, -1, false))

  vim.cmd("messages clear")
  vim.cmd("Ghostwright status")
  vim.wait(5000, function() return vim.fn.execute("messages"):find("ghostwright: ready") ~= nil end, 50)
  local messages = vim.fn.execute("messages")
  check(":Ghostwright status prints the state",
    messages:find("ghostwright: ready | model fake:auto | adapter none", 1, true), messages)
  check("no vim.NIL in the status", not messages:find("NIL", 1, true), messages)
  vim.cmd("Ghostwright toggle")
  check(":Ghostwright toggle turns completions off", require("ghostwright.config").options.enabled == false,
    require("ghostwright.config").options.enabled)
  vim.cmd("Ghostwright nonsense")
  check("unknown subcommand is one error", vim.fn.execute("messages"):find("unknown subcommand nonsense") ~= nil,
    vim.fn.execute("messages"))

  vim.cmd("checkhealth ghostwright")
  local report = table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), "\n")
  check(":checkhealth ghostwright", report:find("server command found") ~= nil
    and report:find("1 server%(s%) running") ~= nil, report)
  -- All was well: nothing was said at start-up or since, but what the user asked for.
  check("no notification", #harness.notified == 0, harness.notified)
end)

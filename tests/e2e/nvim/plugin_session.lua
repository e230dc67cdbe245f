-- Headless Neovim with the ghostwright plugin against the real server process (fake backend).
-- Run: nvim --headless -u NONE -c "luafile plugin_session.lua" with GHOSTWRIGHT_SERVER_CMD (a
-- JSON list), GHOSTWRIGHT_PLUGIN (editors/nvim) and GHOSTWRIGHT_RESULT (the verdict file).
local verdict = dofile(debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "verdict.lua")
local check = verdict.check

local function keys(text)
  vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes(text, true, false, true), "t", true)
end

local function ghost_text(buf, ns)
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
local function in_insert_mode(steps, timeout_ms)
  local index, waited = 1, 0
  local timer = vim.loop.new_timer()
  timer:start(50, 50, vim.schedule_wrap(function()
    waited = waited + 50
    if index > #steps or waited > timeout_ms then
      if index <= #steps then
        check("step " .. index .. " timed out", false, vim.api.nvim_get_current_line())
      end
      timer:stop()
      keys("<Esc>")
      return
    end
    if steps[index]() then
      index = index + 1
    end
  end))
  vim.fn.feedkeys("A", "x!") -- returns once a step sends <Esc>
end

verdict.run(function()
  vim.cmd("filetype on") -- -u NONE leaves it off; every real configuration has it
  vim.opt.runtimepath:append(os.getenv("GHOSTWRIGHT_PLUGIN"))
  vim.cmd("runtime plugin/ghostwright.lua")
  vim.o.expandtab = false
  local ghostwright = require("ghostwright")
  ghostwright.setup({ cmd = vim.fn.json_decode(os.getenv("GHOSTWRIGHT_SERVER_CMD")), debounce_ms = 20 })
  ghostwright.setup({ cmd = vim.fn.json_decode(os.getenv("GHOSTWRIGHT_SERVER_CMD")), debounce_ms = 20 })
  local path = vim.fn.getcwd() .. "/demo.py"
  vim.cmd("edit " .. path)
  local buf = vim.api.nvim_get_current_buf()
  local inline = require("ghostwright.inline")
  local client
  vim.wait(10000, function()
    client = require("ghostwright.client").get(buf)
    return client ~= nil and client.initialized
  end, 50)
  check("one client after two setups", #require("ghostwright.client").all() == 1,
    #require("ghostwright.client").all())
  vim.wait(20000, function()
    local status = client.request_sync("workspace/executeCommand", { command = "ghostwright.status" }, 2000, buf)
    return status and status.result and status.result.state == "ready"
  end, 100)

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
  local actions = client.request_sync("textDocument/codeAction", {
    textDocument = { uri = vim.uri_from_bufnr(buf) },
    range = { start = { line = 1, character = 6 }, ["end"] = { line = 1, character = 6 } },
    context = { diagnostics = {} },
  }, 10000, buf)
  local action = actions and actions.result and actions.result[1]
  if action and not action.edit then
    action = (client.request_sync("codeAction/resolve", action, 10000, buf) or {}).result
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
  check(":Ghostwright status prints the state", messages:find("ghostwright: ready | model fake:auto", 1, true),
    messages)
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
  vim.lsp.stop_client(client.id)
end)

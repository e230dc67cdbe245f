-- Headless Neovim (0.7.2 and later) driving the real ghostwright server over LSP.
-- Run: nvim --headless -u NONE -c "luafile lsp_session.lua" with GHOSTWRIGHT_SERVER_CMD set
-- (a JSON list) and GHOSTWRIGHT_RESULT naming the file that receives the verdict.
local verdict = dofile(debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "verdict.lua")
local check = verdict.check

verdict.run(function()
  local cmd = vim.fn.json_decode(os.getenv("GHOSTWRIGHT_SERVER_CMD"))
  local path = vim.fn.tempname() .. ".py"
  vim.cmd("edit " .. path)
  local buf = vim.api.nvim_get_current_buf()
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, {
    "def f(value):",
    "    return ",
    "",
    "def add(a, b):",
    '    """Return the sum."""',
    "    pass",
  })
  local client_id = vim.lsp.start_client({ name = "ghostwright", cmd = cmd, root_dir = vim.fn.getcwd() })
  vim.lsp.buf_attach_client(buf, client_id)
  local client = vim.lsp.get_client_by_id(client_id)
  vim.wait(10000, function() return client.initialized end, 50)
  check("initialized", client.initialized, "no initialize response")
  check("inline capability", client.server_capabilities.inlineCompletionProvider ~= nil,
    client.server_capabilities)
  -- wait until the model is loaded
  vim.wait(20000, function()
    local status = client.request_sync("workspace/executeCommand", { command = "ghostwright.status" }, 2000, buf)
    return status and status.result and status.result.state == "ready"
  end, 100)

  local position = { line = 1, character = 11 }
  local params = { textDocument = { uri = vim.uri_from_bufnr(buf) }, position = position,
    context = { triggerKind = 1 } }
  local inline = client.request_sync("textDocument/inlineCompletion", params, 10000, buf)
  local item = inline and inline.result and inline.result.items and inline.result.items[1]
  check("inline item", item ~= nil, inline)
  if item then
    vim.api.nvim_buf_set_text(buf, 1, 11, 1, 11, vim.split(item.insertText, "\n"))
  end
  check("accepted inline text", vim.api.nvim_buf_get_lines(buf, 1, 2, false)[1] == "    return value + 1",
    vim.api.nvim_buf_get_lines(buf, 0, -1, false))

  vim.api.nvim_buf_set_lines(buf, 2, 3, false, { "    ret" })
  local completion = client.request_sync("textDocument/completion",
    { textDocument = params.textDocument, position = { line = 2, character = 7 } }, 10000, buf)
  local items = completion and completion.result and completion.result.items or {}
  check("completion item", #items == 1 and items[1].textEdit.newText == "return total", completion)

  local actions = client.request_sync("textDocument/codeAction", {
    textDocument = params.textDocument,
    range = { start = { line = 4, character = 6 }, ["end"] = { line = 4, character = 6 } },
    context = { diagnostics = {} },
  }, 10000, buf)
  local action = actions and actions.result and actions.result[1]
  check("code action offered", action ~= nil and action.title == "Generate code from comment", actions)
  if action and not action.edit then
    local resolved = client.request_sync("codeAction/resolve", action, 10000, buf)
    action = resolved and resolved.result
  end
  if action and action.edit then
    vim.lsp.util.apply_workspace_edit(action.edit, "utf-16")
  end
  local lines = vim.api.nvim_buf_get_lines(buf, 0, -1, false)
  check("code action applied", lines[6] == "    return a + b" and lines[5] == '    """Return the sum."""', lines)
  vim.lsp.stop_client(client_id)
end)

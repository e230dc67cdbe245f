-- Headless Neovim with llama.vim (ggml-org's plugin for llama.cpp's server, unchanged) pointed
-- at `ghostwright http`: the ghost text it draws must come from ghostwright's pipeline, naming a
-- file only the workspace index knows (the fake model lists the snippets its prompt held).
-- Environment: LLAMA_VIM (the plugin), GHOSTWRIGHT_ENDPOINT, GHOSTWRIGHT_FILE, GHOSTWRIGHT_EXPECT.
local here = debug.getinfo(1, "S").source:sub(2):match("(.*/)")
local verdict = dofile(here .. "verdict.lua")
local harness = dofile(here .. "harness.lua")
harness.check = verdict.check
local check = verdict.check

-- llama.vim draws the first line as virt_text and the rest as virt_lines, in two marks.
local function llama_ghost_text(buf, ns)
  local text
  for _, mark in ipairs(vim.api.nvim_buf_get_extmarks(buf, ns, 0, -1, { details = true })) do
    local details = mark[4]
    if details.virt_text and details.virt_text[1] then
      text = (text or "") .. details.virt_text[1][1]
    end
  end
  return text
end

verdict.run(function()
  vim.g.llama_config = {
    endpoint_fim = os.getenv("GHOSTWRIGHT_ENDPOINT") .. "/infill",
    show_info = 0,
    keymap_fim_accept_full = "<Tab>",
  }
  vim.opt.runtimepath:append(os.getenv("LLAMA_VIM"))
  vim.cmd("runtime plugin/llama.vim")
  vim.cmd("edit " .. os.getenv("GHOSTWRIGHT_FILE"))
  local buf = vim.api.nvim_get_current_buf()
  local ns = vim.api.nvim_create_namespace("vt_fim") -- llama.vim's ghost text
  local expect = os.getenv("GHOSTWRIGHT_EXPECT")
  vim.api.nvim_win_set_cursor(0, { vim.api.nvim_buf_line_count(buf), 0 })

  local shown
  harness.in_insert_mode({
    function()
      shown = llama_ghost_text(buf, ns)
      return shown ~= nil and shown:find(expect, 1, true) ~= nil
    end,
    function()
      harness.keys("<Tab>")
      return true
    end,
    harness.after(300),
  }, 60000)
  check("llama.vim drew ghostwright's suggestion", shown and shown:find(expect, 1, true), shown)
  local last = vim.api.nvim_buf_get_lines(buf, -2, -1, false)[1]
  check("<Tab> accepted it", last:find(expect, 1, true) ~= nil, last)
end)

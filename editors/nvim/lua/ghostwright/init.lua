-- require("ghostwright").setup{}: start the server for supported filetypes, show ghost text,
-- map the accept keys. Calling setup again replaces the options and the autocommands.
local config = require("ghostwright.config")

local M = {}
local group = nil

local function map_keys(bufnr)
  local inline = require("ghostwright.inline")
  local keys = config.options.keymaps
  local function expr(key, action)
    if not key or key == "" then
      return
    end
    vim.keymap.set("i", key, function()
      if not inline.visible() then
        return vim.api.nvim_replace_termcodes(key, true, false, true)
      end
      -- Buffer text cannot change inside an expression mapping: insert right after it.
      vim.schedule(action)
      return ""
    end, { buffer = bufnr, expr = true, silent = true, desc = "ghostwright" })
  end
  expr(keys.accept, inline.accept)
  expr(keys.accept_word, inline.accept_word)
  expr(keys.accept_line, inline.accept_line)
  expr(keys.dismiss, inline.dismiss)
end

local function on_buffer(bufnr)
  local client = require("ghostwright.client")
  if client.attach(bufnr) == nil then
    return
  end
  -- Entering a buffer or resting the cursor: the server evaluates the window there meanwhile.
  vim.api.nvim_create_autocmd({ "BufEnter", "CursorHold", "CursorHoldI" }, { group = group,
    buffer = bufnr, callback = function() client.prefill(bufnr) end })
  local inline = require("ghostwright.inline")
  map_keys(bufnr)
  vim.api.nvim_create_autocmd("TextChangedI", { group = group, buffer = bufnr,
    callback = inline.schedule })
  vim.api.nvim_create_autocmd("CursorMovedI", { group = group, buffer = bufnr,
    callback = inline.on_cursor_moved })
  vim.api.nvim_create_autocmd({ "InsertLeave", "BufLeave" }, { group = group, buffer = bufnr,
    callback = inline.dismiss })
end

function M.setup(options)
  config.set(options)
  group = vim.api.nvim_create_augroup("ghostwright", { clear = true })
  vim.api.nvim_create_autocmd("FileType", {
    group = group,
    pattern = config.options.filetypes,
    callback = function(args)
      on_buffer(args.buf)
    end,
  })
  -- Buffers already open when setup runs.
  for _, bufnr in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(bufnr)
      and vim.tbl_contains(config.options.filetypes, vim.bo[bufnr].filetype) then
      on_buffer(bufnr)
    end
  end
end

return M

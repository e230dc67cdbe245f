-- Defaults, deep-merged with the user's options, then validated.
local M = {}

M.defaults = {
  -- The command that starts the server; { "python3", "-m", "ghostwright.server", "serve" } works too.
  cmd = { "ghostwright", "serve" },
  filetypes = { "python", "javascript", "javascriptreact", "typescript", "typescriptreact", "go",
    "rust", "java", "c", "cpp", "lua", "sh", "ruby", "php" },
  -- Server settings (the keys of the server's schema), sent as initializationOptions.
  settings = {},
  debounce_ms = 75,
  enabled = true,
  keymaps = {
    accept = "<Tab>", -- falls through to a normal <Tab> when nothing is shown
    accept_word = "<M-w>",
    accept_line = "<M-l>",
    dismiss = "<C-]>",
  },
  highlight = "Comment",
}

M.options = vim.deepcopy(M.defaults)

function M.set(user)
  local merged = vim.tbl_deep_extend("force", vim.deepcopy(M.defaults), user or {})
  merged.native = nil -- an option of earlier versions: the plugin now draws on every version
  vim.validate({
    cmd = { merged.cmd, "table" },
    filetypes = { merged.filetypes, "table" },
    settings = { merged.settings, "table" },
    debounce_ms = { merged.debounce_ms, "number" },
    enabled = { merged.enabled, "boolean" },
    keymaps = { merged.keymaps, "table" },
    highlight = { merged.highlight, "string" },
  })
  M.options = merged
  return merged
end

return M

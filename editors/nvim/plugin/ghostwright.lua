-- Loaded at start-up: only the :Ghostwright command. Nothing starts until
-- require("ghostwright").setup{} is called.
if vim.g.loaded_ghostwright then
  return
end
vim.g.loaded_ghostwright = true

vim.api.nvim_create_user_command("Ghostwright", function(command)
  require("ghostwright.commands").run(command.fargs)
end, {
  nargs = "+",
  complete = function()
    return require("ghostwright.commands").names()
  end,
  desc = "ghostwright: train | reindex | status | toggle",
})

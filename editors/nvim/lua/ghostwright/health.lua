-- :checkhealth ghostwright
local M = {}

-- Neovim 0.10 has vim.health.start/ok/...; 0.7-0.9 have require("health").report_*.
local function reporter()
  if vim.health and vim.health.start then
    return vim.health
  end
  local old = require("health")
  return { start = old.report_start, ok = old.report_ok, warn = old.report_warn,
    error = old.report_error, info = old.report_info }
end

function M.check()
  local health = reporter()
  local config = require("ghostwright.config").options
  health.start("ghostwright")
  if vim.fn.has("nvim-0.7") == 1 then
    health.ok("Neovim " .. tostring(vim.version().major) .. "." .. tostring(vim.version().minor))
  else
    health.error("Neovim 0.7 or newer is required")
  end
  local executable = config.cmd[1]
  if vim.fn.executable(executable) == 1 then
    health.ok("server command found: " .. table.concat(config.cmd, " "))
  else
    health.error("server command not found: " .. tostring(executable),
      { "install ghostwright (see its README) or set require('ghostwright').setup({ cmd = { ... } })" })
  end
  local active = require("ghostwright.client").all()
  if #active > 0 then
    health.ok(string.format("%d server(s) running", #active))
  else
    health.info("no server running yet (it starts with the first supported buffer)")
  end
  if vim.fn.has("nvim-0.10") == 1 then
    health.info("ghost text drawn inline by the plugin (Neovim's own inline completion is left off)")
  else
    health.info("ghost text drawn by the plugin at the end of the line (Neovim 0.10+ draws it inline)")
  end
  health.info("completions " .. (config.enabled and "enabled" or "disabled (:Ghostwright toggle)"))
end

return M

-- Shared by the headless Neovim sessions: collect failed checks, run the session body, write
-- the verdict file named by GHOSTWRIGHT_RESULT ("ok" or one failure per line) and quit.
local M = { failures = {} }

function M.check(name, ok, detail)
  if not ok then
    table.insert(M.failures, name .. ": " .. vim.inspect(detail))
  end
end

function M.run(body)
  local ok, err = pcall(body)
  if not ok then
    table.insert(M.failures, "error: " .. tostring(err))
  end
  local out = io.open(os.getenv("GHOSTWRIGHT_RESULT"), "w")
  out:write(#M.failures == 0 and "ok\n" or table.concat(M.failures, "\n") .. "\n")
  out:close()
  vim.cmd("qall!")
end

return M

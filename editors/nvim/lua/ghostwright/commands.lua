-- :Ghostwright train | distill | learn | embedder | reindex | status | toggle
local client = require("ghostwright.client")
local config = require("ghostwright.config")

local M = {}

local function echo(message, level)
  vim.api.nvim_echo({ { "ghostwright: " .. message, level == "error" and "ErrorMsg" or "None" } },
    true, {})
end

-- JSON null arrives as vim.NIL: show it as `none` (or `-`), never as "vim.NIL".
local function shown(value, absent)
  if value == nil or value == vim.NIL then
    return absent
  end
  return tostring(value)
end

local function describe_index(index)
  if type(index) ~= "table" then
    return shown(index, "none")
  end
  if type(index.files) ~= "number" or type(index.chunks) ~= "number" then
    return shown(index.state, "none")
  end
  return string.format("%s, %d files, %d chunks", shown(index.state, "ready"), index.files,
    index.chunks)
end

function M.format_status(status)
  local latency = type(status.latency_ms) == "table" and status.latency_ms or {}
  local text = string.format("%s | model %s | adapter %s | index %s | p50 %s ms",
    shown(status.state, "unknown"), shown(status.model, "none"), shown(status.adapter, "none"),
    describe_index(status.index), shown(latency.p50, "-"))
  local student = status.student
  if type(student) == "table" and type(student.retained) == "number"
      and type(student.speedup) == "number" then
    text = text .. string.format(" | student keeps %d%% of the teacher at %.2fx",
      math.floor(student.retained * 100 + 0.5), student.speedup)
  end
  return text
end

local function server_command(name, on_result)
  local active = client.get() or client.all()[1]
  if active == nil then
    echo("no server is running (is the buffer's filetype in setup{ filetypes }?)", "error")
    return
  end
  -- No `arguments`: an empty Lua table would be sent as a JSON object, not an array.
  client.request(active, "workspace/executeCommand", { command = name },
    function(err, result)
      if err then
        echo(name .. " failed: " .. (err.message or vim.inspect(err)), "error")
      else
        on_result(result)
      end
    end)
end

local function background_job(name, doing, label)
  echo(doing .. " in the background")
  server_command(name, function(result)
    if type(result) == "table" and result.error then
      echo(label .. ": " .. result.error, "error")
    end
  end)
end

M.actions = {
  status = function()
    server_command("ghostwright.status", function(status) echo(M.format_status(status)) end)
  end,
  reindex = function()
    echo("reindexing...")
    server_command("ghostwright.reindex", function(index) echo("index " .. describe_index(index)) end)
  end,
  -- Training jobs: the server shows progress ($/progress) and says how each ended
  -- (window/showMessage); only a refusal to start comes back here.
  train = function()
    background_job("ghostwright.train", "fine-tuning on this workspace", "fine-tune")
  end,
  distill = function()
    background_job("ghostwright.distill", "distilling a faster model for this workspace", "distill")
  end,
  learn = function()
    background_job("ghostwright.trainPreferences",
      "learning from the suggestions you kept (DPO)", "learn")
  end,
  embedder = function()
    background_job("ghostwright.trainEmbedder",
      "teaching the retrieval embedder this workspace", "embedder")
  end,
  -- Off: nothing is requested, drawn or prefilled until it is turned on again.
  toggle = function()
    config.options.enabled = not config.options.enabled
    if not config.options.enabled then
      require("ghostwright.inline").dismiss()
    end
    echo("completions " .. (config.options.enabled and "on" or "off"))
  end,
}

function M.names()
  return vim.tbl_keys(M.actions)
end

function M.run(args)
  local action = M.actions[args[1]]
  if action == nil then
    echo("unknown subcommand " .. tostring(args[1]) .. "; use " .. table.concat(M.names(), ", "),
      "error")
    return
  end
  action()
end

return M

-- One ghostwright language server per root directory, attached to supported buffers.
-- Neovim 0.7 to 0.12: vim.lsp.start where it exists (0.8+; start_client is deprecated in 0.12),
-- client methods called as client:method() from 0.11 (client.method() is deprecated there).
local config = require("ghostwright.config")

local M = {}
local clients = {} -- root directory -> client id
local warned_missing = false

local ROOT_MARKERS = { ".ghostwright.toml", "pyproject.toml", ".git" }
local COLON_METHODS = vim.fn.has("nvim-0.11") == 1

local function root_of(bufnr)
  local name = vim.api.nvim_buf_get_name(bufnr)
  local start = name ~= "" and vim.fn.fnamemodify(name, ":p:h") or vim.fn.getcwd()
  for _, marker in ipairs(ROOT_MARKERS) do
    local dir = vim.fn.finddir(marker, start .. ";")
    if dir ~= "" then
      return vim.fn.fnamemodify(dir, ":p:h:h") -- ".git/" -> the folder holding it
    end
    local file = vim.fn.findfile(marker, start .. ";")
    if file ~= "" then
      return vim.fn.fnamemodify(file, ":p:h")
    end
  end
  return start
end

-- Lua encodes an empty table as a JSON array; the server expects an object.
local function settings_object()
  local settings = config.options.settings
  return next(settings) == nil and vim.empty_dict() or settings
end

local function command_missing()
  local executable = config.options.cmd[1]
  if executable ~= nil and vim.fn.executable(executable) == 1 then
    return false
  end
  if not warned_missing then -- once per session, not once per buffer
    warned_missing = true
    vim.schedule(function()
      vim.notify(string.format("ghostwright: server command %q not found: install ghostwright "
        .. "(see its README) or set require('ghostwright').setup({ cmd = { ... } })",
        tostring(executable)), vim.log.levels.WARN)
    end)
  end
  return true
end

-- The server's messages (each starts with "ghostwright:") through vim.notify on every version:
-- 0.7 writes them to stdout instead, prefixed with the client's name.
local MESSAGE_LEVELS = { vim.log.levels.ERROR, vim.log.levels.WARN, vim.log.levels.INFO,
  vim.log.levels.DEBUG }

local function show_message(_, result)
  if type(result) == "table" and type(result.message) == "string" then
    vim.notify(result.message, MESSAGE_LEVELS[result.type] or vim.log.levels.INFO)
  end
  return vim.NIL
end

local function client_config(root)
  return {
    name = "ghostwright",
    cmd = config.options.cmd,
    root_dir = root,
    init_options = { ghostwright = settings_object() },
    settings = { ghostwright = settings_object() },
    handlers = { ["window/showMessage"] = show_message },
    on_exit = function()
      clients[root] = nil
    end,
  }
end

-- This plugin draws ghostwright's suggestions itself (see :help ghostwright-keys); Neovim's own
-- inline completion, where a user turned it on for every server, must not draw them twice.
local function keep_native_off(id)
  if vim.lsp.inline_completion and vim.lsp.inline_completion.enable then
    pcall(vim.lsp.inline_completion.enable, false, { client_id = id })
  end
end

function M.attach(bufnr)
  if command_missing() then
    return nil
  end
  local root = root_of(bufnr)
  local id = clients[root]
  if id ~= nil and vim.lsp.get_client_by_id(id) == nil then
    id = nil
  end
  if vim.lsp.start then
    id = vim.lsp.start(client_config(root), { bufnr = bufnr, reuse_client = function(client, conf)
      return client.name == conf.name and client.config.root_dir == conf.root_dir
    end })
  elseif id == nil then
    id = vim.lsp.start_client(client_config(root))
  end
  if id == nil then
    vim.notify("ghostwright: could not start " .. table.concat(config.options.cmd, " "),
      vim.log.levels.ERROR)
    return nil
  end
  clients[root] = id
  keep_native_off(id)
  if not vim.lsp.buf_is_attached(bufnr, id) then
    vim.lsp.buf_attach_client(bufnr, id)
  end
  return id
end

-- The ghostwright client attached to a buffer (the current one by default).
function M.get(bufnr)
  bufnr = bufnr or vim.api.nvim_get_current_buf()
  local attached = vim.lsp.get_clients and vim.lsp.get_clients({ bufnr = bufnr, name = "ghostwright" })
    or vim.lsp.buf_get_clients(bufnr)
  for _, client in pairs(attached) do
    if client.name == "ghostwright" then
      return client
    end
  end
  return nil
end

-- Client methods on every version (Neovim 0.11 made them methods, `client:name(...)`; before,
-- they were fields called without self): returns what the method returns.
local function call(client, name, ...)
  if COLON_METHODS then
    return client[name](client, ...)
  end
  return client[name](...)
end

function M.request(client, method, params, handler, bufnr)
  return call(client, "request", method, params, handler, bufnr)
end

function M.request_sync(client, method, params, timeout_ms, bufnr)
  return call(client, "request_sync", method, params, timeout_ms, bufnr)
end

function M.notify(client, method, params)
  return call(client, "notify", method, params)
end

function M.cancel(client, id)
  return call(client, "cancel_request", id)
end

-- Tell the server where the cursor rests, so it evaluates the window there before anything is
-- asked (the first suggestion then comes from a warm cache). Cheap: a notification.
function M.prefill(bufnr)
  local client = M.get(bufnr)
  if client == nil or bufnr ~= vim.api.nvim_get_current_buf() or not config.options.enabled then
    return
  end
  local params = vim.lsp.util.make_position_params(0, client.offset_encoding)
  M.notify(client, "ghostwright/prefill", params)
end

function M.all()
  local found = {}
  for _, id in pairs(clients) do
    local client = vim.lsp.get_client_by_id(id)
    if client then
      table.insert(found, client)
    end
  end
  return found
end

return M

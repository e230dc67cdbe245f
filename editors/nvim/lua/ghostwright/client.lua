-- One ghostwright language server per root directory, attached to supported buffers.
local config = require("ghostwright.config")

local M = {}
local clients = {} -- root directory -> client id

local ROOT_MARKERS = { ".ghostwright.toml", "pyproject.toml", ".git" }

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

function M.attach(bufnr)
  local root = root_of(bufnr)
  local id = clients[root]
  if id == nil or vim.lsp.get_client_by_id(id) == nil then
    id = vim.lsp.start_client({
      name = "ghostwright",
      cmd = config.options.cmd,
      root_dir = root,
      init_options = { ghostwright = config.options.settings },
      settings = { ghostwright = config.options.settings },
      on_exit = function()
        clients[root] = nil
      end,
    })
    if id == nil then
      vim.notify("ghostwright: could not start " .. table.concat(config.options.cmd, " "),
        vim.log.levels.ERROR)
      return nil
    end
    clients[root] = id
  end
  vim.lsp.buf_attach_client(bufnr, id)
  return id
end

-- The ghostwright client attached to a buffer (the current one by default).
function M.get(bufnr)
  bufnr = bufnr or vim.api.nvim_get_current_buf()
  for _, client in pairs(vim.lsp.buf_get_clients(bufnr)) do
    if client.name == "ghostwright" then
      return client
    end
  end
  return nil
end

-- Tell the server where the cursor rests, so it evaluates the window there before anything is
-- asked (the first suggestion then comes from a warm cache). Cheap: a notification.
function M.prefill(bufnr)
  local client = M.get(bufnr)
  if client == nil or bufnr ~= vim.api.nvim_get_current_buf() then
    return
  end
  local params = vim.lsp.util.make_position_params(0, client.offset_encoding)
  client.notify("ghostwright/prefill", params)
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

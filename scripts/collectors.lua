-- All collectors in one run, each switchable by name:
--   ebpfrun scripts/collectors.lua [--enable syscalls --enable scheduler | --disable memory] [--json] ...
-- A collector that cannot load on this kernel is disabled with a one-line
-- reason; the others keep running.
local collector = require "ebpf.collector"

local NAMES = { "syscalls", "network", "fileio", "scheduler", "memory", "tcpstate" }

local here = debug.getinfo(1, "S").source:sub(2):match("^(.*)/[^/]*$") or "."
local defs = {}
EBPFRUN_COLLECTOR_LIBRARY = true
for _, name in ipairs(NAMES) do
  local ok, def = pcall(dofile, here .. "/" .. name .. ".lua")
  if ok and type(def) == "table" then
    defs[#defs + 1] = def
  else
    io.stderr:write(("ebpfrun: %s disabled: %s\n"):format(name, tostring(def):match("^[^\n]*")))
  end
end
EBPFRUN_COLLECTOR_LIBRARY = nil

collector.main_many(defs, arg, "collectors", "The six collectors together: " .. table.concat(NAMES, ", ") .. ".")

-- Rows of exited processes, for the long-running agent.
--
-- A collector's per-process maps (a definition's `per_process = { "map", ... }`,
-- each keyed by a process id or by a struct with a `pid` field, or an array
-- of slots whose values have a `pid` field: `{ map = "slots", with =
-- "counts" }`, `with` naming an array of the slots' counts) keep a
-- process's rows after it exits: the BPF side cannot tell the last read from
-- the next, so it leaves them for user space (and LRU eviction once the map
-- is full). On a node where processes come and go, those rows soon outnumber
-- the live ones, and every collection reads, decodes and folds them again:
-- the agent's CPU grows with the number of processes that have ever run.
--
-- So the agent removes them, in two steps that lose nothing a process
-- counted: a process found gone after one collection read its rows had its
-- final values read by the next collection (it could not change them in
-- between), and only then are its rows deleted. ebpf.series sees the rows go
-- away and keeps a counter's last value in the series' retired base, so
-- counters never go down. A pid reused by a new process in between is alive
-- again at deletion time and is left alone.
local ffi = require "ffi"

local M = {}

pcall(ffi.cdef, "int kill(int pid, int sig);")
local EPERM = 1

-- True when a process with this id exists (possibly one we may not signal).
local function alive(pid)
  if ffi.C.kill(pid, 0) == 0 then return true end
  return ffi.errno() == EPERM
end
M.alive = alive

-- A tracker for one collector: call :collected(rows) after each collection
-- has been folded into its series. Returns how many rows it deleted.
local Tracker = {}
Tracker.__index = Tracker

function M.tracker(obj, map_names)
  return setmetatable({ obj = obj, maps = map_names or {}, gone = {}, deleted = 0 }, Tracker)
end

local u32_ptr = ffi.typeof("const uint32_t *")

-- Where the process id sits in a map's key: the key itself when it is a
-- scalar, else its `pid` member (nil: the map is not keyed by process).
local function pid_offset(map)
  if map.key_scalar then return map.key_size == 4 and 0 or nil end
  local ok, offset = pcall(ffi.offsetof, map.key_type, "pid")
  return ok and offset or nil
end

-- An array of slots that hold their own key (a slot taken by a process, as
-- in bpf/tcpstate.bpf.c): the `pid` member of the value. Its entries cannot
-- be deleted: a slot is freed by zeroing it.
local function value_pid_offset(map)
  if map.info_table.type ~= "array" then return nil end
  local ok, offset = pcall(ffi.offsetof, map.value_type, "pid")
  return ok and offset or nil
end

-- Frees the rows of the processes in due; returns how many. A slot array
-- may have a companion array (`with`) holding the slot's counts at the same
-- index: they are zeroed first, then the slot (the key) itself.
local function delete_rows(map, due, with)
  local deleted = 0
  -- An array's key is an index, never a pid.
  local offset = map.info_table.type ~= "array" and pid_offset(map)
  if offset then
    -- Raw keys: the pid is read in place, and nothing is decoded that is
    -- not deleted.
    for _, key in ipairs(map.raw:entries() or {}) do
      local pid = ffi.cast(u32_ptr, ffi.cast("const char *", key) + offset)[0]
      if due[pid] and map.raw:delete(key) then deleted = deleted + 1 end
    end
    return deleted
  end
  offset = value_pid_offset(map)
  if not offset then return 0 end
  local keys, values = map.raw:entries()
  local zero, zero_with
  for i, value in ipairs(values or {}) do
    local pid = ffi.cast(u32_ptr, ffi.cast("const char *", value) + offset)[0]
    if due[pid] then
      if with then
        zero_with = zero_with or string.rep("\0", with.per_cpu and with.stride * with.cpus or with.value_size)
        with.raw:update(keys[i], zero_with, 0)
      end
      zero = zero or string.rep("\0", #value)
      if map.raw:update(keys[i], zero, 0) then deleted = deleted + 1 end
    end
  end
  return deleted
end

function Tracker:collected(rows)
  local deleted = 0
  -- Step 2: processes found gone last time; their rows were just read with
  -- their final values.
  if next(self.gone) then
    local due = {}
    for pid in pairs(self.gone) do
      if not alive(pid) then due[pid] = true end
    end
    if next(due) then
      for _, entry in ipairs(self.maps) do
        local name, with = entry, nil
        if type(entry) == "table" then name, with = entry.map, entry.with and self.obj:map(entry.with) end
        local map = self.obj:map(name)
        if map then deleted = deleted + delete_rows(map, due, with) end
      end
    end
  end
  -- Step 1: which processes of this collection's rows are gone now.
  local gone, checked = {}, {}
  for _, row in ipairs(rows) do
    local pid = tonumber(row.pid)
    if pid and pid > 0 and not checked[pid] then
      checked[pid] = true
      if not self.gone[pid] and not alive(pid) then gone[pid] = true end
    end
  end
  self.gone = gone
  self.deleted = self.deleted + deleted
  return deleted
end

return M

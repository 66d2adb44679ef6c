-- Collectors never go blind: the six collectors (scripts/collectors.lua) with
-- their per-process maps cut to 512 entries run over 2,000 short-lived
-- processes (workload churn), far more than the maps hold; then one marker
-- process per collector, each under its own name, does something with known
-- effects. Every marker's exact counts must be there at the end: a full
-- per-process map must make room for new processes (LRU) instead of
-- refusing them. The run must also show that the maps did overflow (else the
-- test proves nothing), that each full map was reported once on stderr, and
-- that per-thread state of exited threads was removed.
local t = require "harness"
local c = require "ebpf_common"
local cc = require "collector_common"
c.require_root()

local W = cc.workload
local CHURN, MAX_ENTRIES = 2000, 512
local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir " .. dir) == 0)
-- The comm of a process is the name it was started under: one link per marker.
local MARKERS = { "m_sys", "m_file", "m_mem", "m_sched", "m_tcp" }
for _, name in ipairs(MARKERS) do assert(os.execute(("ln -s %s %s/%s"):format(W, dir, name)) == 0) end
local port = 20000 + math.random(0, 9999)

local command = table.concat({
  ("%s churn %d"):format(W, CHURN),
  ("%s/m_sys openat 137 /etc/hostname >/dev/null"):format(dir),
  ("%s/m_file write 40960 %s/out >%s/m_file.pid"):format(dir, dir, dir),
  ("%s/m_mem faults 500 >/dev/null"):format(dir),
  ("%s/m_sched naps 20 2 >/dev/null"):format(dir),
  ("{ %s listen %d 1 >/dev/null & %s/m_tcp send %d 4096 >/dev/null; wait; }"):format(W, port, dir, port),
}, " && ")
local lines, err, code = cc.run(cc.source .. "/scripts/collectors.lua", command,
  "--max-entries " .. MAX_ENTRIES .. " --interval 1")

local function one(collector, where)
  local rows = cc.final_rows(lines, collector, where)
  t.eq(#rows, 1, ("%s rows matching %s (exit %s, stderr: %s)"):format(collector, cc.describe(where), tostring(code),
    err))
  return rows[1] or {}
end

-- The final map figures of one collector's map.
local function map_row(collector, map)
  for _, row in ipairs(lines) do
    if row.final and row.collector == collector and row.maps then
      for _, m in ipairs(row.maps) do if m.map == map then return m end end
    end
  end
  return nil
end

local STATS_MAPS = { syscalls = "syscall_stats", fileio = "io_stats", memory = "mem_stats", scheduler = "sched_stats",
                     network = "traffic", tcpstate = "transitions" }

t.test("the run succeeds", function() t.eq(code, 0, err) end)

t.test("every per-process map overflowed, and was reported full exactly once", function()
  for collector, map in pairs(STATS_MAPS) do
    local m = map_row(collector, map)
    t.ok(m, ("%s: no figures for map %s"):format(collector, map))
    if m then
      t.eq(m.max_entries, MAX_ENTRIES, collector)
      t.ok(m.inserted > MAX_ENTRIES, ("%s: %s had only %d inserts"):format(collector, map, m.inserted))
      t.ok(m.evicted > 0 and m.entries <= MAX_ENTRIES, ("%s: %s"):format(collector, cc.describe(m)))
      t.eq(m.failed_inserts, 0, collector)
    end
    local _, reports = err:gsub("ebpfrun: " .. collector .. ": map " .. map .. " is full", "")
    t.eq(reports, 1, ("%s: reports of %s being full in: %s"):format(collector, map, err))
  end
  t.ok(err:find("%-%-max%-entries N %(now 512%)"), "the report says what to change: " .. err)
end)

t.test("syscalls: the marker's exact counts", function()
  local row = one("syscalls", { comm = "m_sys", syscall = "openat" })
  t.eq(row.count, 137)
  t.eq(row.errors, 0)
end)

-- The syscalls collector's start records are task storage, which the kernel
-- frees with each thread: the churn children's exit_group() (which never
-- returns) leaves nothing behind by construction, and there is no count of
-- task-storage entries to check from user space.

t.test("fileio: the marker's exact bytes and calls", function()
  local f = assert(io.open(dir .. "/m_file.pid"))
  local pid_line = #f:read("*a")
  f:close()
  local row = one("fileio", { comm = "m_file", op = "write" })
  t.eq(row.bytes, 40960 + pid_line)
  t.eq(row.ops, 11)
end)

t.test("memory: the marker's page faults", function()
  local row = one("memory", { comm = "m_mem" })
  t.ok(row.user_faults and row.user_faults >= 500 and row.user_faults < 700, "faults: " .. cc.describe(row))
end)

t.test("scheduler: the marker's switches", function()
  local row = one("scheduler", { comm = "m_sched" })
  t.ok(row.switches and row.switches >= 20, "switches: " .. cc.describe(row))
end)

t.test("network: the marker's exact TCP bytes", function()
  t.eq(one("network", { comm = "m_tcp", proto = "tcp", direction = "tx" }).bytes, 4096)
  t.eq(one("network", { comm = "m_tcp", proto = "tcp", direction = "rx" }).bytes, 4096)
end)

t.test("tcpstate: the marker's connection", function()
  t.eq(one("tcpstate", { comm = "m_tcp", port = port, from = "SYN_SENT", to = "ESTABLISHED" }).count, 1)
  t.eq(one("tcpstate", { comm = "m_tcp", port = port, from = "ESTABLISHED", to = "FIN_WAIT1" }).count, 1)
end)

os.execute("rm -rf " .. dir)
t.done()

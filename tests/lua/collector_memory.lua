-- memory collector against ground truth: a workload touches exactly N fresh
-- anonymous pages (one user-mode fault each); starting a static binary adds a
-- few dozen faults of its own, hence the upper bound of N + 200.
local t = require "harness"
local c = require "ebpf_common"
local cc = require "collector_common"
local json = require "ebpf.json"
c.require_root()

local PAGE = 4096

local function one(rows, what, err)
  t.eq(#rows, 1, what .. " (stderr: " .. tostring(err) .. ")")
  return rows[1]
end

t.test("N touched pages: at least N user page faults, not many more; RSS peak and release", function()
  local n = 3000
  local lines, err = cc.run("memory.lua", ("%s faults %d"):format(cc.workload, n))
  local row = one(cc.final_rows(lines, "memory", { comm = "workload" }), "one workload row", err)
  t.ok(row.user_faults >= n and row.user_faults < n + 200, "user faults: " .. row.user_faults)
  -- exec() copies the arguments onto the new stack from kernel mode.
  t.ok(row.kernel_faults >= 1 and row.kernel_faults < 50, "kernel faults: " .. row.kernel_faults)
  -- The pages were resident together before munmap(); all memory is freed
  -- at exit, which the kernel does on behalf of the gone process (rss_stat
  -- with curr = 0), and is attributed to it all the same.
  t.ok(row.rss_peak_bytes >= n * PAGE and row.rss_peak_bytes < n * PAGE + 8 * 1024 * 1024,
       "peak RSS: " .. row.rss_peak_bytes)
  t.eq(row.rss_bytes, 0)
  t.eq(row.oom_kills, 0)
end)

t.test("twice the pages, twice the faults (to within the start-up faults)", function()
  local lines, err = cc.run("memory.lua", ("%s faults %d"):format(cc.workload, 1000))
  local small = one(cc.final_rows(lines, "memory", { comm = "workload" }), "one workload row", err)
  lines, err = cc.run("memory.lua", ("%s faults %d"):format(cc.workload, 2000))
  local large = one(cc.final_rows(lines, "memory", { comm = "workload" }), "one workload row", err)
  local extra = large.user_faults - small.user_faults
  t.ok(extra >= 990 and extra <= 1010, "1000 more pages gave " .. extra .. " more faults")
end)

-- Optional: needs the cgroup v1 memory controller (this machine has it; a
-- cgroup v2-only host skips). The cgroup is ours, at the top of the memory
-- hierarchy, limited to 32 MiB, and removed afterwards; only the workload
-- runs in it, so the OOM killer has no other choice.
t.test("an OOM kill in a memory-limited cgroup is counted for the victim", function()
  local root = "/sys/fs/cgroup/memory"
  local probe = io.open(root .. "/memory.limit_in_bytes")
  if not probe then
    print("skip: no cgroup v1 memory controller at " .. root)
    return
  end
  probe:close()
  local dir = ("%s/ebpfrun-test-oom-%d"):format(root, c.pid())
  t.ok(os.execute("mkdir " .. dir) == 0, "mkdir " .. dir)
  local ok, lines, err = pcall(function()
    local f = assert(io.open(dir .. "/memory.limit_in_bytes", "w"))
    f:write(tostring(32 * 1024 * 1024))
    f:close()
    -- 100 MiB of pages: far over the limit, and no swap to go to.
    -- Writing 0 to cgroup.procs moves the writer: the shell that then
    -- becomes the workload.
    return cc.run("memory.lua", ("echo 0 > %s/cgroup.procs && exec %s faults 25600"):format(dir, cc.workload))
  end)
  os.execute("rmdir " .. dir)
  t.ok(ok, tostring(lines))
  local row = one(cc.final_rows(lines, "memory", { comm = "workload" }), "one workload row", err)
  t.eq(row.oom_kills, 1)
  t.ok(row.rss_peak_bytes <= 33 * 1024 * 1024, "peak RSS within the limit: " .. row.rss_peak_bytes)
end)

t.test("with -c, other processes never appear", function()
  local lines = cc.run("memory.lua", cc.workload .. " faults 100")
  local rows = cc.final_rows(lines, "memory")
  t.ok(#rows >= 1, "rows of the command")
  for _, row in ipairs(rows) do
    t.ok(row.comm == "workload" or row.comm == "sh", "unexpected process " .. json.encode(row))
  end
end)

t.test("with --pid, other processes never appear", function()
  -- bash forking `sleep` (other pids) in a loop: each fork makes its pages
  -- copy-on-write, so it keeps faulting (dash uses vfork and would not).
  local target = io.popen("exec bash -c 'echo $$; while :; do sleep 0.01; done'")
  local pid = tonumber(target:read("*l"))
  local rows = cc.final_rows_for_pid("memory.lua", pid)
  os.execute("kill " .. pid)
  target:close()
  t.ok(#rows >= 1, "the shell's faults were seen")
  for _, row in ipairs(rows) do t.eq(row.pid, pid, "row " .. json.encode(row)) end
end)

t.test("--help describes the script and its flags", function()
  local text = cc.help("memory.lua")
  t.ok(text:find("Memory per process"), text)
  t.ok(text:find("%-%-pid") and text:find("%-%-json"), text)
end)

t.done()

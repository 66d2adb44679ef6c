-- fileio collector against ground truth: a workload writes (or reads) exactly
-- B bytes to (from) a file in 4 KiB calls, and prints its pid ("PID\n") to its
-- stdout, a pipe. Nothing else in it reads or writes, so the totals are exact.
local t = require "harness"
local c = require "ebpf_common"
local cc = require "collector_common"
local json = require "ebpf.json"
c.require_root()

local function one(rows, what, err)
  t.eq(#rows, 1, what .. " (stderr: " .. tostring(err) .. ")")
  return rows[1]
end

local function temp_file(bytes)
  local path = os.tmpname()
  local f = assert(io.open(path, "wb"))
  f:write(string.rep("y", bytes))
  f:close()
  return path
end

t.test("exactly B bytes written by the workload, the pid line included", function()
  local path = os.tmpname()
  local bytes = 1000000 + 123
  local lines, err = cc.run("fileio.lua", ("%s write %d %s"):format(cc.workload, bytes, path))
  os.remove(path)
  local row = one(cc.final_rows(lines, "fileio", { comm = "workload", op = "write" }), "one write row", err)
  local pid_line = #tostring(row.pid) + 1
  t.eq(row.bytes, bytes + pid_line)
  t.eq(row.ops, math.ceil(bytes / 4096) + 1)
  t.eq(row.errors, 0)
  t.ok(row.seconds > 0 and row.seconds < 5, "time spent: " .. tostring(row.seconds))
  t.eq(#cc.final_rows(lines, "fileio", { comm = "workload", op = "read" }), 0)
end)

t.test("exactly B bytes read by the workload", function()
  local bytes = 300000 + 7
  local path = temp_file(bytes + 5000)
  local lines, err = cc.run("fileio.lua", ("%s read %d %s"):format(cc.workload, bytes, path))
  os.remove(path)
  local row = one(cc.final_rows(lines, "fileio", { comm = "workload", op = "read" }), "one read row", err)
  t.eq(row.bytes, bytes)
  t.eq(row.ops, math.ceil(bytes / 4096))
  t.eq(row.errors, 0)
end)

t.test("--per-file: the bytes of each file under its path, pipes by inode", function()
  local path = os.tmpname()
  local bytes = 200000 + 11
  local lines, err = cc.run("fileio.lua", ("%s write %d %s"):format(cc.workload, bytes, path), "--per-file")
  os.remove(path)
  local row = one(cc.final_rows(lines, "fileio", { comm = "workload", op = "write", file = path }),
                  "one row for " .. path, err)
  t.eq(row.bytes, bytes)
  t.eq(row.ops, math.ceil(bytes / 4096))
  -- The pid line went to stdout, the pipe ebpfrun's reader gave it.
  local rows = cc.final_rows(lines, "fileio", { comm = "workload", op = "write" })
  t.eq(#rows, 2, "rows: " .. json.encode(rows))
  local other = rows[1].file == path and rows[2] or rows[1]
  t.ok(other.file:find("^pipe:%[%d+%]$"), "stdout is a pipe: " .. tostring(other.file))
  t.eq(other.bytes, #tostring(row.pid) + 1)
  t.eq(other.ops, 1)
end)

t.test("--per-file: paths across a mount point", function()
  -- A tmpfs mounted for the test: the walk up from the file must step from
  -- the tmpfs root to the directory it is mounted on.
  local dir = os.tmpname()
  os.remove(dir)
  t.ok(os.execute("mkdir " .. dir .. " && mount -t tmpfs -o size=1m ebpfrun-test " .. dir) == 0, "mount tmpfs")
  local path = dir .. "/sub/data.bin"
  os.execute("mkdir " .. dir .. "/sub")
  local lines, err = cc.run("fileio.lua", ("%s write %d %s"):format(cc.workload, 5000, path), "--per-file")
  os.execute("umount " .. dir .. " && rmdir " .. dir)
  local row = one(cc.final_rows(lines, "fileio", { comm = "workload", op = "write", file = path }),
                  "one row for " .. path, err)
  t.eq(row.bytes, 5000)
  t.eq(row.ops, 2)
end)

t.test("with -c, other processes never appear", function()
  local lines = cc.run("fileio.lua", cc.workload .. " write 10000 /dev/null", "--per-file")
  local rows = cc.final_rows(lines, "fileio")
  t.ok(#rows >= 2, "rows of the command")
  for _, row in ipairs(rows) do
    t.ok(row.comm == "workload" or row.comm == "sh", "unexpected process " .. json.encode(row))
  end
end)

t.test("with --pid, other processes never appear", function()
  -- A shell that writes to /dev/null and forks `sleep` (other pids) in a loop.
  local target = io.popen("echo $$; while :; do echo x >/dev/null; sleep 0.01; done")
  local pid = tonumber(target:read("*l"))
  local rows = cc.final_rows_for_pid("fileio.lua", pid)
  os.execute("kill " .. pid)
  target:close()
  t.ok(#rows >= 1, "the shell's writes were seen")
  for _, row in ipairs(rows) do t.eq(row.pid, pid, "row " .. json.encode(row)) end
end)

t.test("--help describes the script and its flags", function()
  local text = cc.help("fileio.lua")
  t.ok(text:find("Reads and writes per process"), text)
  t.ok(text:find("%-%-per%-file") and text:find("%-%-pid") and text:find("%-%-json"), text)
end)

t.done()

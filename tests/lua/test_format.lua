-- Tests for ebpf.format (and the ebpf.syscalls / ebpf.errno tables behind it),
-- checked against this machine: its UAPI headers, tracefs, /proc and date(1).
local t = require "harness"
local format = require "ebpf.format"
local syscalls = require "ebpf.syscalls"
local errno = require "ebpf.errno"
local ffi = require "ffi"

local function read(path)
  local f = assert(io.open(path, "r"))
  local s = f:read("*a")
  f:close()
  return s
end

local function sh(cmd)
  local p = assert(io.popen(cmd, "r"))
  local s = p:read("*a")
  p:close()
  return (s:gsub("\n$", ""))
end

t.test("bytes", function()
  local cases = { { 0, "0 B" }, { 1, "1 B" }, { 1023, "1023 B" }, { 1024, "1.0 KiB" },
                  { 1536, "1.5 KiB" }, { 3.2 * 1048576, "3.2 MiB" }, { 1048575, "1.0 MiB" },
                  { 1048524, "1023.9 KiB" }, { 5 * 2 ^ 30, "5.0 GiB" }, { 2 ^ 40, "1.0 TiB" },
                  { -2048, "-2.0 KiB" }, { 2 ^ 70, "1024.0 EiB" } }
  for _, c in ipairs(cases) do t.eq(format.bytes(c[1]), c[2], "bytes(" .. c[1] .. ")") end
  t.eq(format.bytes(ffi.new("uint64_t", 1536)), "1.5 KiB")
end)

t.test("duration", function()
  local cases = { { 0, "0 ns" }, { 850, "850 ns" }, { 999, "999 ns" }, { 999.6, "1.00 us" },
                  { 12345, "12.3 us" }, { 99949, "99.9 us" }, { 99950, "100 us" },
                  { 4560000, "4.56 ms" }, { 999499, "999 us" }, { 999999, "1.00 ms" },
                  { 1.2e9, "1.20 s" }, { 61e9, "61.0 s" }, { 3600e9, "3600 s" }, { -5000, "-5.00 us" } }
  for _, c in ipairs(cases) do t.eq(format.duration(c[1]), c[2], "duration(" .. c[1] .. ")") end
  t.eq(format.duration(12345ULL), "12.3 us")
end)

t.test("timestamp", function()
  t.eq(format.timestamp(0, "iso"), "1970-01-01T00:00:00.000Z")
  t.eq(format.timestamp(1700000000.1239, "iso"), "2023-11-14T22:13:20.123Z")
  t.eq(format.timestamp(1700000000.9999, "iso"), "2023-11-14T22:13:20.999Z")
  -- Local time agrees with date(1) in this process's time zone.
  t.eq(format.timestamp(1700000000.5), sh("date -d @1700000000 +%H:%M:%S"))
  t.eq(format.timestamp(1700000000.5, "time"), sh("date -d @1700000000 +%H:%M:%S"))
  -- Without a time it is now: within a few seconds of date(1).
  local now = tonumber(sh("date +%s"))
  t.ok(math.abs(format.now() - now) < 5, "format.now() is the wall clock")
  t.ok(format.timestamp(nil, "iso"):find("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%dZ$"))
  t.raises(function() format.timestamp(0, "unix") end, "unknown style 'unix'")
end)

t.test("number", function()
  t.eq(format.number(0), "0")
  t.eq(format.number(999), "999")
  t.eq(format.number(1000), "1,000")
  t.eq(format.number(1234567), "1,234,567")
  t.eq(format.number(-1234567), "-1,234,567")
  t.eq(format.number(1234.5), "1,234.50")
  t.eq(format.number(1234567.891, 1), "1,234,567.9")
  t.eq(format.number(0xffffffffffffffffULL), "18,446,744,073,709,551,615")
  t.eq(format.number(ffi.new("int64_t", -1000)), "-1,000")
end)

t.test("value", function()
  t.eq(format.value(nil), "")
  t.eq(format.value(3), "3")
  t.eq(format.value(2.5), "2.50")
  t.eq(format.value(7ULL), "7")
  t.eq(format.value(ffi.new("char[8]", "bash")), "bash")
  t.eq(format.value("a\nb\tc"), "a?b?c")
  t.eq(format.value(true), "true")
end)

t.test("comm_of reads /proc for a live process", function()
  local own = tonumber(read("/proc/self/stat"):match("^(%d+)"))
  t.eq(format.comm_of(own), read("/proc/self/comm"):gsub("\n$", ""))
  t.eq(format.comm_of(own), "luajit")
  t.eq(format.comm_of(tostring(own)), "luajit")
  t.eq(format.comm_of(-1), nil)
  t.eq(format.comm_of("x"), nil)
  t.eq(format.comm_of(2 ^ 22 + 1), nil, "above pid_max: no such process")
end)

t.test("comm_of: gone processes, the cache, and its bound", function()
  format._set_comm_cache_size(2)
  -- A child that lives until we close its stdin.
  local child = assert(io.popen("exec sleep 30", "r"))
  local pid
  for _ = 1, 200 do -- the child is ours: find it among our children
    pid = tonumber(sh("pgrep -n -x sleep -P " .. read("/proc/self/stat"):match("^%d+")))
    if pid then break end
  end
  t.ok(pid, "found the child")
  t.eq(format.comm_of(pid), "sleep")
  os.execute("kill " .. pid)
  child:close() -- waits for it
  t.eq(io.open("/proc/" .. pid .. "/comm") == nil, true, "the child is gone")
  t.eq(format.comm_of(pid), "sleep", "a cached name outlives the process")
  format.forget_pid(pid)
  t.eq(format.comm_of(pid), nil, "forgotten, and gone")
  -- Cache the name of a process that then goes away, and push it out of both
  -- generations (2 entries each) with other lookups.
  local child2 = assert(io.popen("exec sleep 30", "r"))
  local pid2
  for _ = 1, 200 do
    pid2 = tonumber(sh("pgrep -n -x sleep -P " .. read("/proc/self/stat"):match("^%d+")))
    if pid2 then break end
  end
  t.eq(format.comm_of(pid2), "sleep")
  os.execute("kill " .. pid2)
  child2:close()
  local own = tonumber(read("/proc/self/stat"):match("^(%d+)"))
  local parent = tonumber(read("/proc/self/stat"):match("^%d+ %b() %S+ (%d+)"))
  format.comm_of(own); format.comm_of(1); format.comm_of(parent); format.comm_of(own)
  format.comm_of(1); format.comm_of(parent)
  t.eq(format.comm_of(pid2), nil, "evicted after two generations")
  format._set_comm_cache_size(1024)
end)

t.test("syscall names and numbers from this machine's header", function()
  syscalls.reset()
  t.eq(format.syscall_name(257), "openat")
  t.eq(format.syscall_nr("openat"), 257)
  t.eq(format.syscall_name(0), "read")
  t.eq(format.syscall_name(59), "execve")
  t.eq(format.syscall_nr("execve"), 59)
  t.eq(format.syscall_name(451), "cachestat", "newer than the header: built in")
  t.eq(format.syscall_name(469), "file_setattr")
  t.eq(format.syscall_name(9999), "syscall_9999")
  t.eq(format.syscall_nr("syscall_9999"), 9999)
  t.eq(format.syscall_nr("no_such_call"), nil)
  -- Every header entry round-trips.
  local header = read("/usr/include/x86_64-linux-gnu/asm/unistd_64.h")
  local n = 0
  for name, nr in header:gmatch("#define%s+__NR_([%w_]+)%s+(%d+)") do
    t.eq(syscalls.name(tonumber(nr)), name)
    t.eq(syscalls.nr(name), tonumber(nr))
    n = n + 1
  end
  t.ok(n > 300, "the header lists " .. n .. " calls")
end)

t.test("tracefs tells which calls the running kernel has", function()
  syscalls.reset()
  local mounted = io.open("/sys/kernel/tracing/events/syscalls/enable") ~= nil
      or io.open("/sys/kernel/debug/tracing/events/syscalls/enable") ~= nil
  if not mounted then
    t.eq(format.syscall_available("openat"), nil, "no tracefs: unknown")
    return
  end
  t.eq(format.syscall_available("openat"), true)
  t.eq(format.syscall_available("stat"), true, "stat's tracepoint is sys_enter_newstat")
  t.eq(format.syscall_available("cachestat"), true)
  t.eq(format.syscall_available("afs_syscall"), false, "never implemented")
  t.eq(syscalls.tracepoint("stat"), "syscalls/sys_enter_newstat")
  t.eq(syscalls.tracepoint("openat", "sys_exit"), "syscalls/sys_exit_openat")
  local list = syscalls.list()
  t.eq(list[258], { nr = 257, name = "openat", available = true })
  local missing = {}
  for _, s in ipairs(list) do if s.available == false then missing[#missing + 1] = s.name end end
  t.ok(#missing > 0 and #missing < 40, "flagged as missing: " .. table.concat(missing, " "))
  syscalls.reset({ tracefs = "/nonexistent" })
  t.eq(format.syscall_available("openat"), nil, "tracefs not found: unknown")
  syscalls.reset()
end)

t.test("built-in syscall tables agree with the header", function()
  local header = {}
  for name, nr in read("/usr/include/x86_64-linux-gnu/asm/unistd_64.h"):gmatch("#define%s+__NR_([%w_]+)%s+(%d+)") do
    header[tonumber(nr)] = name
  end
  syscalls.reset({ header = false })
  t.eq(syscalls.name(257), "openat", "the common table covers openat")
  local covered = 0
  for nr = 0, 500 do
    local name = syscalls.name(nr)
    if name ~= "syscall_" .. nr then
      covered = covered + 1
      if header[nr] then t.eq(name, header[nr], "built-in entry " .. nr) end
    end
  end
  t.ok(covered > 100, covered .. " built-in entries")
  -- A header of our own is parsed the same way.
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write("#define __NR_alpha 1000\n#define  __NR_beta\t1001\n")
  f:close()
  syscalls.reset({ header = path })
  t.eq(syscalls.name(1000), "alpha")
  t.eq(syscalls.nr("beta"), 1001)
  t.eq(syscalls.name(257), "syscall_257", "only the given header")
  os.remove(path)
  syscalls.reset()
end)

t.test("errno names and texts", function()
  errno.reset()
  t.eq(format.errno_name(2), "ENOENT")
  t.eq(format.errno_name(-2), "ENOENT", "syscalls return -errno")
  t.eq(format.errno_text(2), "No such file or directory")
  t.eq(format.errno_name(13), "EACCES")
  t.eq(format.errno_name(11), "EAGAIN", "not its alias EWOULDBLOCK")
  t.eq(format.errno_nr("EWOULDBLOCK"), 11)
  t.eq(format.errno_nr("ENOENT"), 2)
  t.eq(format.errno_name(110), "ETIMEDOUT")
  t.eq(format.errno_name(524), "ENOTSUPP", "kernel-internal, seen from BPF")
  t.eq(format.errno_name(99999), nil)
  t.eq(format.errno_text(99999), nil)
end)

t.test("built-in errno table agrees with the headers", function()
  errno.reset()
  local from_header = {}
  for nr = 1, 140 do from_header[nr] = { errno.name(nr), errno.text(nr) } end
  t.eq(from_header[1], { "EPERM", "Operation not permitted" })
  errno.reset({ headers = {} })
  local n = 0
  for nr = 1, 140 do
    if errno.name(nr) then
      n = n + 1
      t.eq({ errno.name(nr), errno.text(nr) }, from_header[nr], "built-in errno " .. nr)
    end
  end
  t.ok(n >= 30, n .. " built-in errnos")
  errno.reset()
end)

t.test("signals agree with the shell's kill -l", function()
  for nr = 1, 31 do
    t.eq(format.signal_name(nr), "SIG" .. sh("bash -c 'kill -l " .. nr .. "'"), "signal " .. nr)
    t.eq(format.signal_nr(format.signal_name(nr)), nr)
  end
  t.eq(format.signal_name(34), "SIGRT_2")
  t.eq(format.signal_nr("SIGRT_2"), 34)
  t.eq(format.signal_nr("term"), 15)
  t.eq(format.signal_nr("SIGIOT"), 6)
  t.eq(format.signal_nr("SIGRTMAX"), 64)
  t.eq(format.signal_name(0), nil)
  t.eq(format.signal_name(65), nil)
  t.eq(format.signal_nr("SIGNOPE"), nil)
end)

local ROWS = {
  { pid = 1, comm = "systemd", bytes = 123456789, lat = 4560000 },
  { pid = 4242, comm = "a-very-long-command-name", bytes = 12, lat = 850 },
  { pid = 77, comm = "bash", bytes = 4096, lat = 12345 },
}

t.test("table: alignment, formats, truncation, top-N", function()
  local cols = { { "PID", key = "pid" }, { "COMM", key = "comm", max_width = 10 },
                 { "BYTES", key = "bytes", format = "bytes" }, { "LAT", key = "lat", format = "duration" } }
  t.eq(format.table(ROWS, cols), table.concat({
    " PID  COMM            BYTES      LAT",
    "   1  systemd     117.7 MiB  4.56 ms",
    "4242  a-very-lo…       12 B   850 ns",
    "  77  bash          4.0 KiB  12.3 us", "" }, "\n"))
  t.eq(format.table(ROWS, cols, { sort = "bytes", top = 2 }), table.concat({
    "PID  COMM         BYTES      LAT",
    "  1  systemd  117.7 MiB  4.56 ms",
    " 77  bash       4.0 KiB  12.3 us", "" }, "\n"))
  t.eq(format.table(ROWS, { "comm", "pid" }, { sort = "pid", desc = false, header = false }), table.concat({
    "systemd                      1",
    "bash                        77",
    "a-very-long-command-name  4242", "" }, "\n"))
  t.eq(#ROWS, 3, "the caller's rows are not cut")
  t.eq(ROWS[1].pid, 1, "nor reordered")
end)

t.test("sorting is stable and tolerates mixed and missing values", function()
  local rows = { { n = 1, k = "a" }, { n = 5, k = "b" }, { n = 1, k = "c" }, { k = "d" },
                 { n = 5, k = "e" }, { n = "x", k = "f" } }
  local keys = {}
  for i, r in ipairs(format.select_rows(rows, { sort = "n" })) do keys[i] = r.k end
  t.eq(table.concat(keys), "fbeacd")
  keys = {}
  for i, r in ipairs(format.select_rows(rows, { sort = "n", desc = false, top = 3 })) do keys[i] = r.k end
  t.eq(table.concat(keys), "dac")
end)

t.test("table: defaults, cdata cells, UTF-8 widths, empty input", function()
  t.eq(format.table({ { b = 2, a = "x" } }), "a  b\nx  2\n")
  local comm = ffi.new("char[16]", "kworker/0:1")
  t.eq(format.table({ { c = comm, n = 5ULL } }, { { "COMM", key = "c" }, { "N", key = "n" } }),
       "COMM         N\nkworker/0:1  5\n")
  t.eq(format.table({ { s = "héllo" }, { s = "x" } }, { { "S", key = "s", align = "right" } }),
       "    S\nhéllo\n    x\n")
  t.eq(format.table({ { s = "ñññññ" } }, { { "S", key = "s", max_width = 3 } }), "S\nññ…\n")
  t.eq(format.table({}, { { "PID", key = "pid" } }), "PID\n")
  t.raises(function() format.table({}, { { "X", format = "nope" } }) end, "unknown column format 'nope'")
end)

t.done()

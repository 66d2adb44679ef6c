-- Global variables, as a libbpf skeleton sets and reads them: a program
-- written like libbpf-tools' opensnoop (const volatile targ_pid and
-- targ_failed, its event type in its own header) configured with globals=
-- before load and watching a real workload process; type and range errors;
-- a .bss counter the program increments, read and reset through obj.globals.
-- And the filter side of the same mechanism: `ebpfrun scripts/syscalls.lua
-- --pid X` compiles nothing the second time, whatever X.
local t = require "harness"
local c = require "ebpf_common"
local ebpf = require "ebpf"
local ffi = require "ffi"
c.require_root()

local data = os.getenv("EBPFRUN_SOURCE_DIR") .. "/tests/data/globals"
local workload = assert(os.getenv("EBPFRUN_WORKLOAD"), "EBPFRUN_WORKLOAD is not set")

local function compile(globals)
  return ebpf.compile { file = data .. "/globalsnoop.bpf.c", includes = { data }, globals = globals }
end

-- A workload process whose pid is known before it runs: a shell prints its
-- pid, waits for a gate file, then execs the workload (same pid). Its stdout
-- goes to /dev/null before the pid is printed, so that the shell's own open
-- of /dev/null happens before anything is attached.
local function gated(args)
  local gate = os.tmpname()
  os.remove(gate)
  local p = io.popen(("exec 3>&1 >/dev/null; echo $$ >&3; exec 3>&-; while [ ! -e %s ]; do sleep 0.02; done; exec %s %s")
    :format(gate, workload, args))
  local pid = tonumber(p:read("*l"))
  return pid, function()
    io.open(gate, "w"):close()
    p:close()
    os.remove(gate)
  end
end

-- Runs the gated workloads with the object attached; returns the events.
local function events_of(obj, runs)
  t.ok(obj:attach_all())
  local reader = assert(obj:ringbuf("events", "struct event"))
  local events = {}
  reader:on(function(e) events[#events + 1] = { pid = e.pid, ret = e.ret, comm = ffi.string(e.comm) } end)
  for _, run in ipairs(runs) do run() end
  ebpf.run { duration = 0.3 }
  return events
end

t.test("targ_pid and targ_failed set with globals= select the workload's failed opens", function()
  local pid, run = gated("openat 3 /nonexistent/globals-test")
  local other_pid, run_other = gated("openat 4 /nonexistent/globals-test")
  local obj, err = compile { targ_pid = pid, targ_failed = true }
  t.ok(obj, err)
  t.eq(obj.globals.targ_pid, pid)
  t.eq(obj.globals.targ_failed, true)
  local events = events_of(obj, { run, run_other })
  t.eq(#events, 3)
  for _, e in ipairs(events) do
    t.eq(e.pid, pid)
    t.eq(e.ret, -2)  -- ENOENT
    t.eq(e.comm, "workload")
  end
  t.ok(other_pid ~= pid)
  obj:close()
end)

t.test("targ_failed = false lets the successful opens through", function()
  local pid, run = gated("openat 4 /dev/null")
  local obj, err = compile { targ_pid = pid, targ_failed = false }
  t.ok(obj, err)
  local events = events_of(obj, { run })
  t.eq(#events, 4)
  for _, e in ipairs(events) do
    t.eq(e.pid, pid)
    t.ok(e.ret >= 0, "a successful open")
  end
  obj:close()
end)

t.test("unknown globals and values of the wrong type or size are refused", function()
  local obj, err = compile { targ_pidd = 1 }
  t.eq(obj, nil)
  t.eq(err.kind, "not_found")
  t.ok(tostring(err):find("has no global variable 'targ_pidd'", 1, true), tostring(err))
  for _, known in ipairs { "targ_pid (.rodata)", "targ_failed (.rodata)", "seen (.bss)", "generation (.data)" } do
    t.ok(tostring(err):find(known, 1, true), tostring(err))
  end
  local cases = {
    { { targ_failed = 1 }, "it is a bool, not 1" },
    { { targ_pid = true }, "it is an integer, not true" },
    { { targ_pid = 2 ^ 31 }, "does not fit its signed 32%-bit type" },
    { { targ_small = 40000 }, "does not fit its signed 16%-bit type" },
    { { targ_pid = 1.5 }, "is not an integer" },
    { { targ_comm = "a name of sixteen" }, "does not fit char%[16%]" },
    { { targ_mode = "GLOBALSNOOP_NONE" }, "its enum has no constant 'GLOBALSNOOP_NONE'" },
  }
  for _, case in ipairs(cases) do
    local bad, berr = compile(case[1])
    t.eq(bad, nil)
    t.ok(tostring(berr):find(case[2]), tostring(berr))
  end
  t.raises(function() compile { [1] = 5 } end, "'globals' must map names")
  -- Values that fit are taken, typed: a negative short, a comm, an enum by name.
  local obj2 = assert(compile { targ_small = -32768, targ_comm = "fifteen bytes!!", targ_mode = "GLOBALSNOOP_COUNT_ONLY" })
  t.eq(obj2.globals.targ_small, -32768)
  t.eq(obj2.globals.targ_comm, "fifteen bytes!!")
  t.eq(obj2.globals.targ_mode, 2)
  t.raises(function() return obj2.globals.nothing end, "has no global variable 'nothing'")
  obj2:close()
  t.ok(not c.kernel_has_program("globalsnoop_exit"))
end)

t.test("a .bss counter is read and reset through obj.globals; const globals stay read-only", function()
  local pid, run = gated("openat 5 /nonexistent/globals-test")
  local obj = assert(compile { targ_pid = pid, targ_mode = 2 })
  t.eq(obj.globals.seen, 0)
  t.eq(obj.globals.generation, 7)
  t.ok(obj:attach_all())
  run()
  t.eq(obj.globals.seen, 5)
  obj.globals.seen = 0
  obj.globals.generation = 8
  t.eq(obj.globals.seen, 0)
  t.eq(obj.globals.generation, 8)
  local pid2, run2 = gated("openat 2 /nonexistent/globals-test")
  t.ok(pid2 ~= pid)
  run2()  -- another pid: not counted
  t.eq(obj.globals.seen, 0)
  t.raises(function() obj.globals.targ_pid = 1 end, "global 'targ_pid' is const %(%.rodata%): it can only be set before load")
  t.raises(function() obj.globals.seen = "x" end, "it is an integer")
  t.raises(function() obj.globals.seen = {} end, "takes a number, a boolean or a string")
  t.eq(obj.globals.targ_pid, pid)
  obj:close()
end)

t.test("ebpf.load(path, { globals = ... }) configures a precompiled object the same way", function()
  local object = os.tmpname() .. ".o"
  t.ok(os.execute(("%s compile %s/globalsnoop.bpf.c -I %s -o %s"):format(os.getenv("EBPFRUN_BIN"), data, data, object)))
  local pid, run = gated("openat 2 /nonexistent/globals-test")
  local obj, err = ebpf.load(object, { globals = { targ_pid = pid, targ_failed = true } })
  t.ok(obj, err)
  local events = events_of(obj, { run })
  t.eq(#events, 2)
  for _, e in ipairs(events) do t.eq(e.pid, pid) end
  obj:close()
  local bad, berr = ebpf.load(object, { globals = { targ_pid = "x" } })
  t.eq(bad, nil)
  t.ok(tostring(berr):find("global 'targ_pid': it is an integer, not a string", 1, true), tostring(berr))
  t.raises(function() ebpf.load(object, 5) end, "the options must be a table")
  os.remove(object)
end)

-- Runs `ebpfrun -v scripts/syscalls.lua --pid PID` briefly with its own cache
-- directory and no prebuilt objects (the runtime compile is what is tested
-- here; tests/lua/collector_prebuilt.lua covers the prebuilt objects);
-- returns its stderr.
local function syscalls_run(cache, pid)
  local err_file = os.tmpname()
  os.execute(("EBPFRUN_PREBUILT_DIR=/nonexistent XDG_CACHE_HOME=%s %s -v %s/scripts/syscalls.lua --pid %d --duration 0.2 >/dev/null 2>%s"):format(
    cache, os.getenv("EBPFRUN_BIN"), os.getenv("EBPFRUN_SOURCE_DIR"), pid, err_file))
  local f = io.open(err_file)
  local text = f:read("*a")
  f:close()
  os.remove(err_file)
  return text
end

t.test("a different --pid (and ebpfrun's own excluded pid) is an object cache hit", function()
  local cache = os.tmpname()
  os.remove(cache)
  os.execute("mkdir -p " .. cache)
  local first = syscalls_run(cache, 1)
  t.ok(first:find("syscalls.bpf.c in [%d.]+ ms %(compiled"), first)
  local second = syscalls_run(cache, c.pid())
  t.ok(second:find("syscalls.bpf.c in [%d.]+ ms %(object cache hit"), second)
  t.ok(not second:find("ms (compiled", 1, true), second)
  os.execute("rm -rf " .. cache)
end)

t.done()

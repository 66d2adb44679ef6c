-- Prebuilt objects (cmake/Prebuilt.cmake, runtime/build/prebuilt.cpp): every
-- shipped BPF source has one after the build, and a shipped collector or
-- tool started with an empty cache and no usable compiler library takes it,
-- says so under -v and sees its workload's events; a define with no prebuilt
-- object (--max-entries) compiles, and says so.
local t = require "harness"
local c = require "ebpf_common"
local cc = require "collector_common"
c.require_root()

local prebuilt_dir = cc.ebpfrun:match("^(.*)/[^/]*$") .. "/prebuilt"
local index = io.open(prebuilt_dir .. "/index.txt")
if not index then
  -- The build prebuilds nothing without /sys/kernel/btf/vmlinux.
  local has_btf = io.open("/sys/kernel/btf/vmlinux")
  if has_btf or os.getenv("CI") == "true" then
    t.test("the build made prebuilt objects", function() t.ok(false, "no " .. prebuilt_dir .. "/index.txt") end)
  else
    print("skipped: this build has no prebuilt objects (no kernel BTF at build time)")
  end
  t.done()
  return
end
index:close()

local sh = c.sh

-- A fresh, empty cache directory.
local function empty_cache()
  local dir = sh("mktemp -d /tmp/ebpfrun-prebuilt-test.XXXXXX"):gsub("%s+$", "")
  return dir
end

local function cache_objects(dir)
  return sh(("ls -A %q/ebpfrun/objects 2>/dev/null"):format(dir)):gsub("%s+$", "")
end

-- Runs `ebpfrun -v ARGS` with `env` (NAME=VALUE ...); returns the JSON lines,
-- stderr and the exit code.
-- EBPFRUN_BTF is unset, so that the compiles some of these cases ask for
-- are against the running kernel's BTF.
local function run(env, args)
  return cc.capture(("env -u EBPFRUN_BTF %s %s -v %s"):format(env, cc.ebpfrun, args))
end

-- No compile can succeed with this: any compile would fail.
local NO_COMPILER = "EBPFRUN_COMPILER_LIB=/nonexistent/libebpfrun-clang.so"

t.test("every shipped BPF source has a prebuilt object", function()
  for source in sh(("ls %s/bpf/"):format(cc.source)):gmatch("([%w_]+)%.bpf%.c") do
    local found = sh(("ls %s/%s-*.o 2>/dev/null"):format(prebuilt_dir, source))
    t.ok(found ~= "", "no prebuilt object of bpf/" .. source .. ".bpf.c in " .. prebuilt_dir)
  end
end)

t.test("syscalls.lua with an empty cache and no compiler: prebuilt object, exact counts", function()
  local cache = empty_cache()
  local lines, err, code = run(("XDG_CACHE_HOME=%s %s"):format(cache, NO_COMPILER),
    ("-c %q %s/scripts/syscalls.lua --json"):format(cc.workload .. " openat 37 /etc/hostname", cc.source))
  t.eq(code, 0, err)
  t.ok(err:find("prebuilt object " .. prebuilt_dir .. "/syscalls-", 1, true), err)
  t.ok(not err:find("compiled "), err)
  local rows = cc.final_rows(lines, "syscalls", { comm = "workload", syscall = "openat" })
  t.eq(#rows, 1, err)
  t.eq(rows[1] and rows[1].count, 37)
  t.eq(cache_objects(cache), "", "the cache got an object although nothing was compiled")
  sh(("rm -rf %q"):format(cache))
end)

t.test("syscalls.lua --pid with an empty cache and no compiler sees that process only", function()
  local cache = empty_cache()
  local pid = tonumber(sh(("%s naps 40 100 >/dev/null 2>&1 & echo $!"):format(cc.workload)))
  local lines, err, code = run(("XDG_CACHE_HOME=%s %s"):format(cache, NO_COMPILER),
    ("%s/scripts/syscalls.lua --json --duration 1 --pid %d"):format(cc.source, pid))
  sh("kill " .. pid .. " 2>/dev/null")
  t.eq(code, 0, err)
  t.ok(err:find("prebuilt object"), err)
  local rows = cc.final_rows(lines, "syscalls")
  t.ok(#rows > 0, "no rows: " .. err)
  local naps = 0
  for _, row in ipairs(rows) do
    t.eq(row.pid, pid, "a row of another process")
    if row.syscall:find("nanosleep") then naps = naps + row.count end
  end
  t.ok(naps >= 5, "saw " .. naps .. " sleeps of the workload")
  sh(("rm -rf %q"):format(cache))
end)

t.test("syscalls.lua --comm through the prebuilt object's comm check", function()
  local cache = empty_cache()
  local pid = tonumber(sh(("%s naps 40 100 >/dev/null 2>&1 & echo $!"):format(cc.workload)))
  local lines, err, code = run(("XDG_CACHE_HOME=%s %s"):format(cache, NO_COMPILER),
    ("%s/scripts/syscalls.lua --json --duration 1 --comm workload"):format(cc.source))
  sh("kill " .. pid .. " 2>/dev/null")
  t.eq(code, 0, err)
  t.ok(err:find("prebuilt object"), err)
  local rows, mine = cc.final_rows(lines, "syscalls"), 0
  for _, row in ipairs(rows) do
    t.eq(row.comm, "workload", "a row of another command")
    if row.pid == pid then mine = mine + 1 end
  end
  t.ok(mine > 0, "no row of the workload: " .. err)
  sh(("rm -rf %q"):format(cache))
end)

t.test("execsnoop.lua with an empty cache and no compiler: prebuilt object, sees the exec", function()
  local cache = empty_cache()
  local lines, err, code = run(("XDG_CACHE_HOME=%s %s"):format(cache, NO_COMPILER),
    ("-c %q %s/scripts/execsnoop.lua --json"):format("sh -c '/bin/echo prebuilt-check >/dev/null'", cc.source))
  t.eq(code, 0, err)
  t.ok(err:find("prebuilt object " .. prebuilt_dir .. "/execsnoop-", 1, true), err)
  local seen = false
  for _, e in ipairs(lines) do
    if e.filename == "/bin/echo" and e.argv and e.argv[2] == "prebuilt-check" then seen = true end
  end
  t.ok(seen, "the exec of /bin/echo was not reported: " .. err)
  sh(("rm -rf %q"):format(cache))
end)

-- The flags that change a collector's C (cmake/Prebuilt.cmake's variants)
-- start from prebuilt objects too.
t.test("--count-only, --runq-only, --per-file and --per-address: prebuilt objects, nothing compiled", function()
  for _, case in ipairs({ { "syscalls.lua", "--count-only" }, { "scheduler.lua", "--runq-only" },
                          { "fileio.lua", "--per-file" }, { "network.lua", "--per-address" } }) do
    local cache = empty_cache()
    local _, err, code = run(("XDG_CACHE_HOME=%s %s"):format(cache, NO_COMPILER),
      ("-c %q %s/scripts/%s --json %s"):format(cc.workload .. " naps 3 2", cc.source, case[1], case[2]))
    t.eq(code, 0, case[1] .. " " .. case[2] .. ": " .. err)
    t.ok(err:find("prebuilt object " .. prebuilt_dir .. "/", 1, true), case[1] .. " " .. case[2] .. ": " .. err)
    t.eq(cache_objects(cache), "", case[2] .. ": the cache got an object although nothing was compiled")
    sh(("rm -rf %q"):format(cache))
  end
end)

t.test("--max-entries has no prebuilt object: it compiles (and fails without a compiler)", function()
  local cache = empty_cache()
  local args = ("-c %q %s/scripts/syscalls.lua --json --max-entries 512"):format(
    cc.workload .. " openat 11 /etc/hostname", cc.source)
  local lines, err, code = run(("XDG_CACHE_HOME=%s EBPFRUN_COMPILER_LIB=%s"):format(cache,
    os.getenv("EBPFRUN_COMPILER_LIB")), args)
  t.eq(code, 0, err)
  t.ok(not err:find("prebuilt object"), err)
  t.ok(err:find("compiled .*syscalls%.bpf%.c in [%d.]+ ms %(compiled"), err)
  local rows = cc.final_rows(lines, "syscalls", { comm = "workload", syscall = "openat" })
  t.eq(rows[1] and rows[1].count, 11, err)
  t.ok(cache_objects(cache) ~= "", "the compile left nothing in the cache")
  -- Again, from the cache (with the same compiler library: it is part of the key).
  local _, again = run(("XDG_CACHE_HOME=%s EBPFRUN_COMPILER_LIB=%s"):format(cache,
    os.getenv("EBPFRUN_COMPILER_LIB")), args)
  t.ok(again:find("object cache hit"), again)
  sh(("rm -rf %q"):format(cache))
  cache = empty_cache()
  local _, failed, failed_code = run(("XDG_CACHE_HOME=%s %s"):format(cache, NO_COMPILER), args)
  t.ok(failed_code ~= 0, "ran without a compiler: " .. failed)
  t.ok(failed:find("EBPFRUN_COMPILER_LIB"), failed)
  sh(("rm -rf %q"):format(cache))
end)

t.test("--btf compiles against that BTF; EBPFRUN_BTF keeps the prebuilt object", function()
  local cache = empty_cache()
  local btf = cache .. "/vmlinux.btf"
  sh(("cp /sys/kernel/btf/vmlinux %q"):format(btf))
  local args = ("-c %q %s/scripts/syscalls.lua --json"):format(cc.workload .. " openat 13 /etc/hostname", cc.source)
  -- EBPFRUN_BTF names the types of the compiles that happen (the kernel
  -- matrix's guests set it to the host's); a prebuilt object compiles nothing.
  local lines, err, code = run(("XDG_CACHE_HOME=%s EBPFRUN_BTF=%s %s"):format(cache, btf, NO_COMPILER), args)
  t.eq(code, 0, err)
  t.ok(err:find("prebuilt object " .. prebuilt_dir .. "/syscalls-", 1, true), err)
  local rows = cc.final_rows(lines, "syscalls", { comm = "workload", syscall = "openat" })
  t.eq(rows[1] and rows[1].count, 13, err)
  -- --btf asks for that BTF's types: a compile, which needs the compiler.
  local _, failed, failed_code = run(("XDG_CACHE_HOME=%s %s"):format(cache, NO_COMPILER), "--btf " .. btf .. " " .. args)
  t.ok(failed_code ~= 0, "ran without a compiler: " .. failed)
  t.ok(not failed:find("prebuilt object"), failed)
  t.ok(failed:find("EBPFRUN_COMPILER_LIB"), failed)
  sh(("rm -rf %q"):format(cache))
end)

t.test("--no-cache compiles a shipped source instead of taking its prebuilt object", function()
  local lines, err, code = run("", ("--no-cache -c %q %s/scripts/syscalls.lua --json"):format(
    cc.workload .. " openat 5 /etc/hostname", cc.source))
  t.eq(code, 0, err)
  t.ok(not err:find("prebuilt object"), err)
  local rows = cc.final_rows(lines, "syscalls", { comm = "workload", syscall = "openat" })
  t.eq(rows[1] and rows[1].count, 5, err)
end)

t.done()

-- The one-liners the prebuilt generic program serves (ebpf.oneliner_prebuilt,
-- bpf/oneliner_generic.bpf.c): with an empty cache and a compiler library
-- that does not exist (so any compile would fail) they run from the prebuilt
-- object, say so under -v and count the workload's events exactly, `where`
-- filters of up to four comparisons joined by && included; a one-liner the
-- program does not serve (`||`) still compiles; and both paths print the
-- same, text and JSON.
local t = require "harness"
local c = require "ebpf_common"
local o = require "oneliner_common"
local ffi = require "ffi"
c.require_root()
math.randomseed(os.time() + c.pid())

pcall(ffi.cdef, "int setenv(const char *name, const char *value, int overwrite); int unsetenv(const char *name);")

local bin = o.bin()
local prebuilt_dir = bin:match("^(.*)/[^/]*$") .. "/prebuilt"
local index = io.open(prebuilt_dir .. "/index.txt")
if not index then
  print("skipped: this build has no prebuilt objects (no kernel BTF at build time)")
  t.done()
  return
end
index:close()

local W = o.workload()
local REAL_COMPILER = os.getenv("EBPFRUN_COMPILER_LIB")
local REAL_CACHE = os.getenv("XDG_CACHE_HOME")

local sh = c.sh

-- Runs `ebpfrun ARGS -e CODE` with an empty cache and no compiler library
-- (prebuilt = true), or with the tests' compiler and cache, generating C
-- (EBPFRUN_ONELINER_PREBUILT=0) when `generated`. EBPFRUN_BTF is unset, so
-- that the generated C compiles against the running kernel's BTF.
local function run(mode, code, args)
  local cache = sh("mktemp -d /tmp/ebpfrun-olprebuilt.XXXXXX"):gsub("%s+$", "")
  ffi.C.unsetenv("EBPFRUN_BTF")
  if mode == "prebuilt" then
    ffi.C.setenv("XDG_CACHE_HOME", cache, 1)
    ffi.C.setenv("EBPFRUN_COMPILER_LIB", "/nonexistent/libebpfrun-clang.so", 1)
  else
    ffi.C.setenv("XDG_CACHE_HOME", REAL_CACHE, 1)
    ffi.C.setenv("EBPFRUN_COMPILER_LIB", REAL_COMPILER, 1)
  end
  if mode == "generated" then ffi.C.setenv("EBPFRUN_ONELINER_PREBUILT", "0", 1) else ffi.C.unsetenv("EBPFRUN_ONELINER_PREBUILT") end
  local rc, out, err = o.run(code, nil, args)
  local cached = sh(("ls -A %q/ebpfrun/objects 2>/dev/null"):format(cache)):gsub("%s+$", "")
  sh(("rm -rf %q"):format(cache))
  ffi.C.setenv("XDG_CACHE_HOME", REAL_CACHE, 1)
  ffi.C.setenv("EBPFRUN_COMPILER_LIB", REAL_COMPILER, 1)
  ffi.C.unsetenv("EBPFRUN_ONELINER_PREBUILT")
  return rc, out, err, cached
end

-- -c runs the workload once the one-liner is attached and filters on it
-- (and on the shell -c starts it with, whose opens show as comm "sh").
local function opens(n, path) return ("-v -c %s"):format(o.quote(("%s openat %d %s"):format(W, n, path))) end

t.test("count by comm, empty cache, no compiler: the prebuilt object counts exactly", function()
  local path = o.unique_file("olprebuilt")
  local rc, out, err, cached = run("prebuilt", 'count("tracepoint/syscalls/sys_enter_openat", "comm")', opens(37, path))
  t.eq(rc, 0, err)
  t.ok(out:find("\n@%[workload%]: 37\n$") or out:find("^@%[workload%]: 37\n$"), out .. err)
  t.ok(err:find("prebuilt object " .. prebuilt_dir .. "/oneliner_generic-", 1, true), err)
  t.ok(not err:find("compiled ", 1, true), err)
  t.eq(cached, "", "the cache got an object although nothing was compiled")
  os.remove(path)
end)

t.test("a wildcard keyed by comm and pid: one program attached to every match", function()
  local path = o.unique_file("olprebuilt")
  local rc, out, err = run("prebuilt", 'count("tracepoint/syscalls/sys_enter_open*", {"comm", "pid"})', opens(23, path))
  t.eq(rc, 0, err)
  t.ok(out:match("@%[workload, %d+%]: 23\n"), out .. err)
  t.ok(err:find("prebuilt object", 1, true), err)
  t.ok(err:find("Attaching %d+ probes"), err)
end)

t.test("stats and hist of a builtin number through the prebuilt object", function()
  local path = o.unique_file("olprebuilt")
  local rc, out, err = run("prebuilt", 'stats("tracepoint/syscalls/sys_enter_openat", "pid", { by = "comm" })', opens(11, path))
  t.eq(rc, 0, err)
  local count, average, total = out:match("@stats%[workload%]: count (%d+), average (%d+), total (%d+)\n")
  t.eq(tonumber(count), 11, out .. err)
  t.eq(tonumber(total), 11 * tonumber(average or 0), out)
  t.ok(err:find("prebuilt object", 1, true), err)
  rc, out, err = run("prebuilt", 'hist("tracepoint/syscalls/sys_enter_openat", "uid", { by = "comm" })', opens(9, path))
  t.eq(rc, 0, err)
  t.ok(out:find("@uid%[workload%]:\n%[0%]%s+9 |"), out .. err)
  os.remove(path)
end)

t.test("record fields through the prebuilt object: the syscall key, a negative ret, a sum of ret", function()
  local path = o.unique_file("olprebuilt")
  local missing = ("/nonexistent-olprebuilt-%d"):format(math.random(1e9))
  local rc, out, err = run("prebuilt", 'count("tracepoint/syscalls/sys_enter_openat", {"comm", "syscall"})', opens(17, path))
  t.eq(rc, 0, err)
  t.ok(out:find("@[workload, openat]: 17\n", 1, true), out .. err)
  t.ok(err:find("prebuilt object", 1, true), err)
  rc, out, err = run("prebuilt", 'count("tracepoint/syscalls/sys_exit_openat", {"ret", "comm"})', opens(6, missing))
  t.eq(rc, 0, err)
  t.ok(out:find("@[-2, workload]: 6\n", 1, true), out .. err)
  rc, out, err = run("prebuilt", 'sum("tracepoint/syscalls/sys_exit_openat", "ret", { by = "comm" })', opens(6, missing))
  t.eq(rc, 0, err)
  t.ok(out:find("@sum[workload]: -12\n", 1, true), out .. err)
  os.remove(path)
end)

t.test("a `where` of comparisons joined by && through the prebuilt object counts exactly", function()
  local missing = ("/nonexistent-olprebuilt-%d"):format(math.random(1e9))
  for _, where in ipairs({
    "ret == -2 && comm == 'workload'",
    "!(ret >= 0) && 'workload' == comm && pid > 0",
    "0 > ret && comm != 'sh' && uid >= 0 && !(tid == 0)",
  }) do
    local code = ('count("tracepoint/syscalls/sys_exit_openat", "comm", { where = "%s" })'):format(where)
    local rc, out, err, cached = run("prebuilt", code, opens(6, missing))
    t.eq(rc, 0, err)
    local rows = {}
    for row in out:gmatch("@[^\n]*") do rows[#rows + 1] = row end
    t.eq(rows, { "@[workload]: 6" }, where .. ": " .. out .. err)
    t.ok(err:find("prebuilt object", 1, true), err)
    t.eq(cached, "", "the cache got an object although nothing was compiled")
  end
end)

t.test("a `where` the program does not serve compiles with the real compiler", function()
  local path = o.unique_file("olprebuilt")
  for _, where in ipairs({ "pid > 0 || uid == 0", "pid > 0 && pid > 1 && pid > 2 && pid > 3 && pid > 4", "pid >= tid" }) do
    local code = ('count("tracepoint/syscalls/sys_enter_openat", "comm", { where = "%s" })'):format(where)
    local rc, out, err = run("compiler", code, opens(5, path))
    t.eq(rc, 0, err)
    t.ok(out:find("@[workload]: 5\n", 1, true), where .. ": " .. out .. err)
    t.ok(not err:find("prebuilt object", 1, true), err)
    t.ok(err:find("compiled ", 1, true) or err:find("object cache hit", 1, true), err)
    rc, out, err = run("prebuilt", code, opens(5, path))
    t.ok(rc ~= 0, "compiled without a compiler: " .. out .. err)
  end
  os.remove(path)
end)

t.test("the prebuilt and the generated program print the same, text and JSON", function()
  local path = o.unique_file("olprebuilt")
  for _, code in ipairs({
    'count("tracepoint/syscalls/sys_enter_openat", {"comm", "uid"})',
    'count("tracepoint/syscalls/sys_enter_openat")',
    'stats("tracepoint/syscalls/sys_enter_openat", "uid", { by = "comm" })',
    'hist("tracepoint/syscalls/sys_enter_openat", "uid", { by = {"uid", "comm"} })',
    'count("tracepoint/syscalls/sys_enter_open*", {"comm", "syscall"})',
    'count("tracepoint/syscalls/sys_exit_openat", {"comm", "ret"})',
    'hist("tracepoint/syscalls/sys_exit_openat", "ret", { by = "comm" })',
    'count("tracepoint/syscalls/sys_exit_openat", "comm", { where = "ret >= 0 && pid > 1" })',
    'stats("tracepoint/syscalls/sys_enter_openat", "uid", { by = "comm", where = "comm == \'workload\'" })',
  }) do
    for _, format in ipairs({ "", "-f json " }) do
      local rc1, out1, err1 = run("prebuilt", code, format .. opens(13, path))
      local rc2, out2, err2 = run("generated", code, format .. opens(13, path))
      t.eq(rc1, 0, err1)
      t.eq(rc2, 0, err2)
      t.ok(err1:find("prebuilt object", 1, true), err1)
      t.ok(not err2:find("prebuilt object", 1, true), err2)
      t.ok(out1:find("workload", 1, true) or out1:find("@: 15\n", 1, true) or out1:find("\"data\":15", 1, true),
        code .. ": " .. out1)
      -- The workload prints its pid first, which differs from run to run.
      t.eq(out1:gsub("^%d+\n", ""), out2:gsub("^%d+\n", ""), format .. code)
    end
  end
  os.remove(path)
end)

t.done()

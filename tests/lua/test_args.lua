-- Tests for ebpf.args: parsed values, standard options and the filter spec,
-- exact error messages with exit code 2, and the generated --help.
local t = require "harness"
local args = require "ebpf.args"

local SPEC = {
  name = "execsnoop",
  description = "Trace new processes.",
  options = {
    { "-x", "--exclude", type = "string", multiple = true, help = "skip this command" },
    { "--top", type = "int", default = 10, help = "rows to show" },
    { "--verbose", type = "flag", help = "say more" },
    { "--max-args", type = "int", metavar = "N", help = "arguments to print" },
    { "--scale", type = "number" },
    { "--mode", choices = { "fast", "slow" }, default = "fast", help = "how hard to try" },
  },
  standard = { "pid", "tid", "comm", "uid", "cgroup", "json", "interval", "duration" },
  positional = { { "PATTERN", optional = true, help = "only commands matching this" } },
}

-- Runs args.parse with exit and the streams captured.
local function run(argv, spec)
  local out, err, code = t.buffer(), t.buffer(), nil
  args.stdout, args.stderr = out, err
  local saved = args.exit
  args.exit = function(c) code = c end
  local opts, msg = args.parse(argv, spec or SPEC)
  args.exit, args.stdout, args.stderr = saved, nil, nil
  return { opts = opts, msg = msg, code = code, out = out:text(), err = err:text() }
end

t.test("defaults", function()
  local r = run({})
  t.eq(r.code, nil)
  t.eq(r.opts, { exclude = {}, top = 10, verbose = false, mode = "fast", pid = {}, tid = {},
                 comm = {}, uid = {}, cgroup = {}, json = false, filter = {} })
end)

t.test("values in every form", function()
  local r = run({ "--pid", "12", "--pid=34", "--pid", "5,6", "-x", "a", "-xb", "-x=c",
                  "--exclude", "d", "--top=-3", "--verbose", "--max-args", "7", "--scale", "0.5",
                  "--comm", "bash", "--uid=1000", "--tid", "99", "--cgroup", "/sys/fs/cgroup/app",
                  "--cgroup", "4242", "--json", "--interval", "2.5", "--duration=10", "--mode", "slow",
                  "ssh.*" })
  t.eq(r.code, nil, r.err)
  t.eq(r.opts, {
    pid = { 12, 34, 5, 6 }, exclude = { "a", "b", "c", "d" }, top = -3, verbose = true, max_args = 7,
    scale = 0.5, comm = { "bash" }, uid = { 1000 }, tid = { 99 }, cgroup = { "/sys/fs/cgroup/app", 4242 },
    json = true, interval = 2.5, duration = 10, mode = "slow", pattern = "ssh.*",
    filter = { pid = { 12, 34, 5, 6 }, comm = { "bash" }, uid = { 1000 }, tid = { 99 },
               cgroup = { "/sys/fs/cgroup/app", 4242 } } })
end)

t.test("'--' ends options and negative numbers are values", function()
  local r = run({ "--scale", "-1.5", "--", "--json" })
  t.eq(r.opts.scale, -1.5)
  t.eq(r.opts.pattern, "--json")
  t.eq(r.opts.json, false)
end)

t.test("only the standard options a script names exist", function()
  local spec = { name = "tiny", standard = { "pid" } }
  t.eq(run({ "--pid", "1" }, spec).opts, { pid = { 1 }, filter = { pid = { 1 } } })
  local r = run({ "--json" }, spec)
  t.eq(r.code, 2)
  t.eq(r.err, "usage: tiny [-h] [--pid PID]\ntiny: error: unrecognized option '--json'\n")
end)

local USAGE = table.concat({
  "usage: execsnoop [-h] [-x EXCLUDE] [--top TOP] [--verbose] [--max-args N]",
  "                 [--scale SCALE] [--mode MODE] [--pid PID] [--tid TID]",
  "                 [--comm NAME] [--uid UID] [--cgroup PATH|ID] [--json]",
  "                 [--interval SECS] [--duration SECS] [PATTERN]" }, "\n")

local function expect_error(argv, message)
  local r = run(argv)
  t.eq(r.code, 2, "exit code for " .. table.concat(argv, " "))
  t.eq(r.opts, nil)
  t.eq(r.msg, message)
  t.eq(r.err, USAGE .. "\nexecsnoop: error: " .. message .. "\n")
  t.eq(r.out, "")
end

t.test("usage errors exit 2 with one clear message", function()
  expect_error({ "--pdi", "1" }, "unrecognized option '--pdi' (did you mean '--pid'?)")
  expect_error({ "--frobnicate" }, "unrecognized option '--frobnicate'")
  expect_error({ "-q" }, "unrecognized option '-q'")
  expect_error({ "--pid" }, "option '--pid' needs a value (PID)")
  expect_error({ "--pid", "--json" }, "option '--pid' needs a value (PID)")
  expect_error({ "--pid", "abc" }, "option '--pid' expects an integer, got 'abc'")
  expect_error({ "--pid", "1,x" }, "option '--pid' expects an integer, got 'x'")
  expect_error({ "--pid", "-4" }, "option '--pid' must be at least 0, got '-4'")
  -- Above the kernel's pid_max a pid can never match: a usage error, not a
  -- filter that shows nothing (or a runtime error from the filter template).
  local f = io.open("/proc/sys/kernel/pid_max")
  local pid_max = f and tonumber(f:read("*l")) or 4194304
  if f then f:close() end
  expect_error({ "--pid", "99999999999" }, "option '--pid' must be at most " .. pid_max .. ", got '99999999999'")
  expect_error({ "--tid", tostring(pid_max + 1) },
    "option '--tid' must be at most " .. pid_max .. ", got '" .. (pid_max + 1) .. "'")
  expect_error({ "--top", "1.5" }, "option '--top' expects an integer, got '1.5'")
  expect_error({ "--scale", "fast" }, "option '--scale' expects a number, got 'fast'")
  expect_error({ "--scale", "nan" }, "option '--scale' expects a number, got 'nan'")
  expect_error({ "--interval", "0" }, "option '--interval' must be greater than 0, got '0'")
  expect_error({ "--duration=-1" }, "option '--duration' must be greater than 0, got '-1'")
  expect_error({ "--json=yes" }, "option '--json' does not take a value")
  expect_error({ "--mode", "warp" }, "option '--mode' must be one of fast, slow; got 'warp'")
  expect_error({ "--comm", "a-command-name-of-20" },
    "option '--comm': 'a-command-name-of-20' is 20 bytes long, but the kernel keeps at most 15 "
    .. "bytes of a command name (use the first 15)")
  expect_error({ "--cgroup", "app" },
    "option '--cgroup': 'app' is neither a cgroup v2 directory path (starting with '/') nor a numeric cgroup id")
  expect_error({ "one", "two" }, "unexpected argument 'two'")
end)

t.test("without spec.name the script's file name is the program name", function()
  local r = run({ [0] = "/usr/share/ebpfrun/scripts/opensnoop.lua", "--bad" }, { standard = { "json" } })
  t.eq(r.err, "usage: opensnoop [-h] [--json]\nopensnoop: error: unrecognized option '--bad'\n")
  r = run({ "-h" }, { standard = { "json" } })
  t.eq(r.out:match("^[^\n]*"), "usage: script [-h] [--json]")
end)

t.test("required options and positionals", function()
  local spec = { name = "req", options = { { "--out", required = true } },
                 positional = { { "SRC" }, { "REST", multiple = true, optional = true } } }
  local r = run({ "a" }, spec)
  t.eq(r.code, 2)
  t.eq(r.msg, "option '--out' is required")
  r = run({ "--out", "f" }, spec)
  t.eq(r.msg, "missing argument SRC")
  r = run({ "--out", "f", "a", "b", "c" }, spec)
  t.eq(r.opts, { out = "f", src = "a", rest = { "b", "c" }, filter = {} })
end)

t.test("--help prints the generated help and exits 0", function()
  local spec = {}
  for k, v in pairs(SPEC) do spec[k] = v end
  spec.epilog = "Example: execsnoop --pid 1"
  local r = run({ "--top", "3", "--help", "--bogus" }, spec)
  t.eq(r.code, 0)
  t.eq(r.opts, nil)
  t.eq(r.err, "")
  t.eq(r.out, USAGE .. "\n" .. [[

Trace new processes.

positional arguments:
  PATTERN               only commands matching this

options:
  -h, --help            show this help and exit
  -x, --exclude EXCLUDE
                        skip this command
  --top TOP             rows to show (default: 10)
  --verbose             say more
  --max-args N          arguments to print
  --scale SCALE
  --mode MODE           how hard to try (default: fast)
  --pid PID             trace only this process id (repeat the option or give
                        1,2,3 for several)
  --tid TID             trace only this thread id (repeatable)
  --comm NAME           trace only tasks with this command name (repeatable)
  --uid UID             trace only tasks of this user id (repeatable)
  --cgroup PATH|ID      trace only tasks in this cgroup v2 (directory or id)
  --json                print one JSON object per line instead of text
  --interval SECS       print a summary every SECS seconds
  --duration SECS       stop after SECS seconds

Example: execsnoop --pid 1
]])
  t.eq(run({ "-h" }, spec).out, r.out)
end)

t.test("mistakes in the spec are Lua errors at the call", function()
  t.raises(function() args.parse({}, { standard = { "pids" } }) end,
           "test_args.lua:%d+: args: unknown standard option 'pids'")
  t.raises(function() args.parse({}, { options = { { "--x" }, { "--x" } } }) end, "option %-%-x is declared twice")
  t.raises(function() args.parse({}, { options = { { "--x", type = "bool" } } }) end, "unknown type 'bool'")
  t.raises(function() args.parse({}, { options = { { "pid" } } }) end, "bad option name 'pid'")
  t.raises(function() args.parse({}, { options = { { "--filter" } } }) end, "'filter' is reserved")
end)

t.test("a real script exits 2 and 0 through os.exit", function()
  local script = os.tmpname()
  local f = assert(io.open(script, "w"))
  f:write([[
local args = require "ebpf.args"
local opts = args.parse(arg, { name = "probe", standard = { "pid", "json" } })
print("pid=" .. table.concat(opts.pid, ","))
]])
  f:close()
  local function sh(argv)
    local p = assert(io.popen((arg[-1] or "luajit") .. " " .. script .. " " .. argv .. " 2>&1; echo \"rc=$?\""))
    local s = p:read("*a")
    p:close()
    return s
  end
  t.eq(sh("--pid 7"), "pid=7\nrc=0\n")
  t.eq(sh("--pid nope"), "usage: probe [-h] [--pid PID] [--json]\n"
                       .. "probe: error: option '--pid' expects an integer, got 'nope'\nrc=2\n")
  t.eq(sh("--help"), "usage: probe [-h] [--pid PID] [--json]\n\noptions:\n"
    .. "  -h, --help            show this help and exit\n"
    .. "  --pid PID             trace only this process id (repeat the option or give\n"
    .. "                        1,2,3 for several)\n"
    .. "  --json                print one JSON object per line instead of text\nrc=0\n")
  os.remove(script)
end)

t.done()

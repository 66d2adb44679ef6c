-- offcputime: time blocked (off the CPU) per stack.
--   ebpfrun scripts/offcputime.lua [--duration S] [--pid N] [--comm X] [--min-us N] [--stacks both|kernel|user]
--                                  [--wakeup] [--top N] [--folded] [--svg FILE] [--json]
-- A raw_tp/sched_switch program (bpf/offcputime.bpf.c) records, for each task
-- leaving the CPU, the time and its kernel and user stacks; when the task
-- runs again, the time it was away goes to that stack's total. At the end
-- the stacks are symbolized in the host and printed as the top stacks by
-- microseconds blocked, or with --folded as `comm;outermost;...;innermost US`
-- lines (a flame graph of waiting, with --svg FILE). Preemption counts as
-- off-CPU time too (the task was runnable but not running), as in BCC's tool.
-- With --wakeup (BCC's offwaketime) a raw_tp/sched_waking program also takes
-- the stacks of the task that wakes each one, and the time is per (blocked
-- stack, waker stack) pair: folded lines go on past the sleeper's innermost
-- frame with "--", the waker's frames innermost first, and the waker's comm.
local ebpf = require "ebpf"
local args = require "ebpf.args"
local collector = require "ebpf.collector"
local report = require "ebpf.stackreport"
local ffi = require "ffi"

local spec = {
  name = "offcputime",
  description = "Sum the time tasks spend off the CPU (blocked or preempted) per kernel and user stack.",
  options = {
    { "--min-us", type = "int", default = 1, metavar = "US", help = "count only blocks of at least US microseconds" },
    { "--stacks", default = "both", choices = { "both", "kernel", "user" }, metavar = "WHICH",
      help = "which stacks to take: both, kernel or user" },
    { "--wakeup", type = "flag", help = "also take the waker's stacks (at sched_waking) and join them to the sleeper's" },
    { "--top", type = "int", default = 10, metavar = "N", help = "stacks to show in the table" },
    { "--folded", type = "flag", help = "print folded stacks (comm;frame;...;frame microseconds) instead of the table" },
    { "--svg", type = "string", metavar = "FILE", help = "also write an interactive SVG flame graph to FILE" },
  },
  standard = { "pid", "tid", "comm", "uid", "cgroup", "json", "interval", "duration" },
}
local opts = args.parse(arg, spec)
if opts.top < 1 then
  io.stderr:write("offcputime: error: --top must be at least 1\n")
  os.exit(2)
end
if opts.min_us < 0 or opts.min_us > 3600 * 1000000 then
  io.stderr:write("offcputime: error: --min-us must be between 0 and one hour in microseconds\n")
  os.exit(2)
end

local obj, err = ebpf.compile {
  file = collector.bpf_path("offcputime.bpf.c"), filter = opts.filter,
  defines = { ("OFFCPU_MIN_NS=%dULL"):format(math.max(1, opts.min_us * 1000)),
              "OFFCPU_KERNEL_STACKS=" .. (opts.stacks ~= "user" and 1 or 0),
              "OFFCPU_USER_STACKS=" .. (opts.stacks ~= "kernel" and 1 or 0),
              "OFFCPU_WAKEUP=" .. (opts.wakeup and 1 or 0) },
}
if not obj then
  io.stderr:write("offcputime: ", tostring(err), "\n")
  os.exit(1)
end
local attach = { { "offcpu_switch", "raw_tp/sched_switch" } }
if opts.wakeup then attach[2] = { "offcpu_waking", "raw_tp/sched_waking" } end
for _, a in ipairs(attach) do
  local link
  link, err = obj:attach(a[1], a[2])
  if not link then
    io.stderr:write("offcputime: ", tostring(err), "\n")
    obj:close()
    os.exit(1)
  end
end
local times = assert(obj:map("offcpu_times"))
local function total_ms()
  local n = 0
  for _, ns in times:pairs() do n = n + tonumber(ns) end
  return math.floor(n / 1e6)
end
io.stderr:write("offcputime: tracing off-CPU time; Ctrl-C to stop\n")
report.run(opts, times, function() io.stderr:write("offcputime: ", total_ms(), " ms off CPU so far\n") end)

local r = report.new { tool = "offcputime", unit = "us", title = "offcputime: microseconds off CPU" }
for key, ns in times:pairs() do
  local user, kernel
  if key.user_stack >= 0 then user = obj:stack("offcpu_stacks", key.user_stack, key.pid) end
  if key.kernel_stack >= 0 then kernel = obj:stack("offcpu_stacks", key.kernel_stack) end
  local waker
  if opts.wakeup and (key.waker.kernel_stack >= 0 or key.waker.user_stack >= 0) then
    waker = { comm = ffi.string(key.waker.comm) }
    if key.waker.user_stack >= 0 then waker.user = obj:stack("offcpu_stacks", key.waker.user_stack, key.waker.pid) end
    if key.waker.kernel_stack >= 0 then waker.kernel = obj:stack("offcpu_stacks", key.waker.kernel_stack) end
  end
  r:add(ffi.string(key.comm), user, kernel, math.floor(tonumber(ns) / 1000), waker)
end
obj:close()
local printed
printed, err = r:print(opts)
if not printed then
  io.stderr:write("offcputime: ", err, "\n")
  os.exit(1)
end

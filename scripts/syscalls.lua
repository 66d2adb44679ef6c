-- syscalls: count, errors and latency per system call per process.
--   ebpfrun scripts/syscalls.lua [--pid N] [--comm X] [--interval S] [--duration S] [--json] [--top N]
--                                [--count-only]
-- Syscall names come from the running system (ebpf.format.syscall_name), not a
-- list in this file.
local collector = require "ebpf.collector"
local format = require "ebpf.format"
local ffi = require "ffi"

local labels = { "pid", "comm", "syscall" }
local def = {
  name = "syscalls",
  description = "System calls per process: count, errors and time spent, per syscall.",
  source = collector.bpf_path("syscalls.bpf.c"),
  options = {
    { "--count-only", type = "flag",
      help = "counts and errors only, no time per call: one program at syscall exit instead of two (cheaper)" },
  },
  defines = function(opts) return opts.count_only and { "COUNT_ONLY=1" } or nil end,
  -- Maps keyed by process (a pid or a struct with a pid field): the agent
  -- deletes an exited process's rows once it has read their final values.
  per_process = { "syscall_stats" },
  metrics = {
    { name = "ebpfrun_syscalls_total", type = "counter", labels = labels, value = "count",
      help = "System calls completed." },
    { name = "ebpfrun_syscall_errors_total", type = "counter", labels = labels, value = "errors",
      help = "System calls that returned an error." },
    { name = "ebpfrun_syscall_seconds_total", type = "counter", labels = labels, value = "seconds",
      help = "Time spent in system calls." },
  },
  key = { "pid", "syscall" },
  sort = "count",
  columns = {
    { "PID", key = "pid", align = "right" }, { "COMM", key = "comm" }, { "SYSCALL", key = "syscall" },
    { "COUNT", key = "count", align = "right" }, { "ERRORS", key = "errors", align = "right" },
    { "AVG", key = "avg_ns", format = "duration", align = "right" },
  },
  collect = function(state)
    local rows = {}
    for key, v in state.obj:map("syscall_stats"):pairs() do
      local count, ns = tonumber(v.count), tonumber(v.total_ns)
      -- Without times (--count-only) the row has no seconds, so the agent
      -- exports no time series rather than zeros.
      local timed = not state.opts.count_only
      rows[#rows + 1] = { pid = key.pid, comm = ffi.string(v.comm), syscall = format.syscall_name(key.nr),
                          count = count, errors = tonumber(v.errors), seconds = timed and ns / 1e9 or nil,
                          avg_ns = timed and (count > 0 and ns / count or 0) or nil }
    end
    return rows
  end,
}

if not EBPFRUN_COLLECTOR_LIBRARY then collector.main(def, arg) end
return def

-- scheduler: context switches, on-CPU and off-CPU time per process, and a
-- histogram of run-queue latency.
--   ebpfrun scripts/scheduler.lua [--pid N] [--comm X] [--interval S] [--duration S] [--json] [--top N]
--                                  [--runq-only]
-- On-CPU: time a process's threads ran, as the kernel accounts CPU time
-- (time stolen by a hypervisor is not in it). Off-CPU: time they were switched
-- out (sleeping, blocked, or waiting on a run queue). Run-queue latency: from
-- a thread's wakeup (or its preemption) until it runs again; RUNQ is its sum
-- per process, the histogram shows each wait. A switch is involuntary when
-- the thread stays runnable (preempted, or yielding).
--
-- Filters select the task the figures belong to: --pid N counts the time,
-- switches and run-queue waits of process N's threads (not of the threads
-- they wake or that replace them on a CPU), and the histogram holds only
-- their waits; --comm, --uid, --tid and --cgroup (and -c) likewise. Off-CPU
-- stretches that began before tracing started, and the one a thread is in
-- when tracing stops, are not counted (bpf/scheduler.bpf.c explains how the
-- filter is applied in sched_switch, whose current task is the one leaving).
--
-- --runq-only keeps the histogram alone (the job of libbpf-tools' runqlat),
-- with less work per context switch: no per-process table, no CPU times.
--
-- Text mode prints the interval's table, then the histogram since the start;
-- JSON mode adds one row {"hist":"runqueue_latency_us","type":"hist",
-- "buckets":[{"min":..,"max":..,"count":..}]} with bounds in microseconds.
local collector = require "ebpf.collector"
local ebpf = require "ebpf"
local format = require "ebpf.format"
local hist = require "ebpf.hist"
local ffi = require "ffi"

local HIST_NAME = "runqueue_latency_us"
local labels = { "pid", "comm" }

local function seconds(v) return format.duration(v * 1e9) end

local function latency_hist(state)
  local counts = {}
  for bucket, count in state.obj:map("runq_hist"):pairs() do
    if count > 0 then counts[bucket] = count end
  end
  return hist.hist(counts)
end

local def = {
  name = "scheduler",
  description = "Scheduling per process: context switches, on-CPU and off-CPU time, run-queue latency.",
  source = collector.bpf_path("scheduler.bpf.c"),
  options = {
    { "--runq-only", type = "flag",
      help = "the run-queue latency histogram only, no per-process table (cheaper per context switch)" },
  },
  defines = function(opts) return opts.runq_only and { "RUNQ_ONLY=1" } or nil end,
  -- const_labels: labels with a fixed value for that series, so that several
  -- fields of one row become one metric told apart by a label. The histogram
  -- is the JSON row whose "hist" field is HIST_NAME; its bucket bounds are in
  -- microseconds (scale turns them into the metric's seconds).
  -- Maps keyed by process (a pid or a struct with a pid field): the agent
  -- deletes an exited process's rows once it has read their final values.
  per_process = { "sched_stats" },
  metrics = {
    { name = "ebpfrun_context_switches_total", type = "counter", labels = labels, value = "switches",
      help = "Times a thread of the process was switched out." },
    { name = "ebpfrun_involuntary_switches_total", type = "counter", labels = labels, value = "involuntary",
      help = "Switches after which the thread was still runnable (preempted)." },
    { name = "ebpfrun_cpu_seconds_total", type = "counter", labels = { "pid", "comm", "state" },
      const_labels = { state = "on" }, value = "on_seconds", help = "Time the process's threads ran on a CPU." },
    { name = "ebpfrun_cpu_seconds_total", type = "counter", labels = { "pid", "comm", "state" },
      const_labels = { state = "off" }, value = "off_seconds",
      help = "Time the process's threads were switched out (sleeping, blocked or runnable)." },
    { name = "ebpfrun_runqueue_wait_seconds_total", type = "counter", labels = labels, value = "runq_seconds",
      help = "Time the process's threads waited on a run queue." },
    { name = "ebpfrun_runqueue_latency_seconds", type = "histogram", labels = {}, row = { hist = HIST_NAME },
      value = "buckets", scale = 1e-6, help = "Run-queue latency: from wakeup or preemption to running." },
  },
  key = { "pid" },
  sort = "switches",
  -- No table with --runq-only: the histogram below it is all there is.
  columns = function(opts)
    if opts.runq_only then return nil end
    return {
      { "PID", key = "pid", align = "right" }, { "COMM", key = "comm", width = 15 },
      { "SWITCHES", key = "switches", align = "right" }, { "INVOL", key = "involuntary", align = "right" },
      { "ON-CPU", key = "on_seconds", format = seconds, align = "right" },
      { "OFF-CPU", key = "off_seconds", format = seconds, align = "right" },
      { "RUNQ", key = "runq_seconds", format = seconds, align = "right" },
    }
  end,
  collect = function(state)
    local rows = {}
    -- --runq-only: the object has no per-process map.
    local stats = not state.opts.runq_only and state.obj:map("sched_stats")
    for pid, v in (stats and stats:pairs() or function() end) do
      rows[#rows + 1] = { pid = pid, comm = ffi.string(v.comm), switches = tonumber(v.switches),
                          involuntary = tonumber(v.involuntary), on_seconds = tonumber(v.on_ns) / 1e9,
                          off_seconds = tonumber(v.off_ns) / 1e9, runq_seconds = tonumber(v.runq_ns) / 1e9,
                          runq_waits = tonumber(v.runq_waits) }
    end
    if state.opts.json or ebpf.options.format == "json" then
      local row = latency_hist(state):to_json_table()
      row.hist = HIST_NAME
      rows[#rows + 1] = row
    end
    return rows
  end,
  -- Under the text table: the histogram of every wait since the start.
  footer = function(state)
    local h = latency_hist(state)
    if h:total() == 0 then return "run-queue latency: no waits seen yet\n" end
    return ("run-queue latency since start, microseconds (%d waits):\n%s"):format(h:total(), h:format())
  end,
}

if not EBPFRUN_COLLECTOR_LIBRARY then collector.main(def, arg) end
return def

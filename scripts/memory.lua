-- memory: page faults, resident set size and OOM kills per process.
--   ebpfrun scripts/memory.lua [--pid N] [--comm X] [--interval S] [--duration S] [--json] [--top N]
-- Faults are counted for the faulting task, RSS for the process whose memory
-- it is, OOM kills for the victim; the filters select the faulting task, the
-- process owning the memory, and the task whose allocation invoked the OOM
-- killer respectively (bpf/memory.bpf.c says why). RSS is file + anon + shmem
-- pages as the kernel counts them (the VmRSS of /proc/PID/status); it drops
-- to 0 when a process exits and its memory is freed, while the peak stays.
local collector = require "ebpf.collector"
local format = require "ebpf.format"
local ffi = require "ffi"

-- enum mm_counter
local MM_FILEPAGES, MM_ANONPAGES, MM_SHMEMPAGES = 0, 1, 3

local labels = { "pid", "comm" }
local def = {
  name = "memory",
  description = "Memory per process: user and kernel page faults, resident set size (and its peak), OOM kills.",
  source = collector.bpf_path("memory.bpf.c"),
  -- const_labels: labels with a fixed value for that series, so that several
  -- fields of one row become one metric told apart by a label.
  -- Maps keyed by process (a pid or a struct with a pid field): the agent
  -- deletes an exited process's rows once it has read their final values.
  per_process = { "mem_stats" },
  metrics = {
    { name = "ebpfrun_page_faults_total", type = "counter", labels = { "pid", "comm", "kind" },
      const_labels = { kind = "user" }, value = "user_faults", help = "Page faults taken in user mode." },
    { name = "ebpfrun_page_faults_total", type = "counter", labels = { "pid", "comm", "kind" },
      const_labels = { kind = "kernel" }, value = "kernel_faults",
      help = "Page faults taken in kernel mode on user memory (e.g. while copying to a fresh buffer)." },
    { name = "ebpfrun_rss_bytes", type = "gauge", labels = labels, value = "rss_bytes",
      help = "Resident set size (file + anonymous + shared memory pages), last seen." },
    { name = "ebpfrun_rss_peak_bytes", type = "gauge", labels = labels, value = "rss_peak_bytes",
      help = "Largest resident set size seen while tracing." },
    { name = "ebpfrun_oom_kills_total", type = "counter", labels = labels, value = "oom_kills",
      help = "Times the process was chosen as an OOM killer victim." },
  },
  key = { "pid" },
  sort = "user_faults",
  columns = {
    { "PID", key = "pid", align = "right" }, { "COMM", key = "comm", width = 15 },
    { "FAULTS", key = "user_faults", align = "right" }, { "KFAULTS", key = "kernel_faults", align = "right" },
    { "RSS", key = "rss_bytes", format = "bytes" }, { "PEAK", key = "rss_peak_bytes", format = "bytes" },
    { "ANON", key = "anon_bytes", format = "bytes" }, { "OOM", key = "oom_kills", align = "right" },
  },
  collect = function(state)
    local rows = {}
    for pid, v in state.obj:map("mem_stats"):pairs() do
      local file, anon, shmem = tonumber(v.rss[MM_FILEPAGES]), tonumber(v.rss[MM_ANONPAGES]),
        tonumber(v.rss[MM_SHMEMPAGES])
      local row = { pid = pid, comm = ffi.string(v.comm), user_faults = tonumber(v.user_faults),
                    kernel_faults = tonumber(v.kernel_faults), oom_kills = tonumber(v.oom_kills) }
      -- No RSS figures at all for a process whose memory never changed.
      if v.rss_known ~= 0 then
        row.rss_bytes, row.rss_peak_bytes = file + anon + shmem, tonumber(v.rss_peak)
        row.anon_bytes, row.file_bytes, row.shmem_bytes = anon, file, shmem
      end
      rows[#rows + 1] = row
      -- A process seen only through its memory (say, pages reclaimed from
      -- it) has no comm of its own in the map yet.
      if row.comm == "" then row.comm = format.comm_of(pid) or "" end
    end
    return rows
  end,
}

if not EBPFRUN_COLLECTOR_LIBRARY then collector.main(def, arg) end
return def

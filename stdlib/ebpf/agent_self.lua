-- The agent's collection-side self-monitoring: series per metric and those
-- folded into overflow, map fill, program run counters (--bpf-stats), event
-- readers, compile cache and Lua memory, as metric families for one snapshot
-- of its own (the HTTP side adds process_*, build info and scrape figures).
local ebpf = require "ebpf"
local core = require "ebpf.core"

local M = {}

-- The families of the agent's collection-side self-monitoring, from the
-- agent's state (its collectors, their series, maps, programs and readers).
function M.families(self)
  local dropped = { name = "ebpfrun_series_dropped_total", type = "counter", labels = { "metric" }, samples = {},
                    help = "Label sets folded into the overflow series because the metric reached its series limit." }
  local active = { name = "ebpfrun_series", type = "gauge", labels = { "collector", "metric" }, samples = {},
                   help = "Series the metric currently exports." }
  local entries = { name = "ebpfrun_map_entries", type = "gauge", labels = { "collector", "map" }, samples = {},
                    help = "Entries in the collector's BPF map." }
  local max_entries = { name = "ebpfrun_map_max_entries", type = "gauge", labels = { "collector", "map" },
                        samples = {}, help = "Capacity of the collector's BPF map." }
  local load = { name = "ebpfrun_collector_load_seconds", type = "gauge", labels = { "collector" }, samples = {},
                 help = "Time the collector took to compile (or load from the cache), load and attach." }
  local paths = { name = "ebpfrun_collector_attach_path", type = "gauge", labels = { "collector", "path" },
                  samples = {}, help = "1 for the attach path the collector took (fentry or tracepoint), "
                    .. "for collectors that have more than one." }
  local failures = { name = "ebpfrun_attach_failures_total", type = "counter", labels = { "collector", "stage" },
                     samples = {}, help = "Collectors that failed to load, by the stage that failed." }
  local runs = { name = "ebpfrun_program_run_count_total", type = "counter", labels = { "collector", "program" },
                 samples = {}, help = "Runs of the BPF program (with --bpf-stats)." }
  local run_time = { name = "ebpfrun_program_run_seconds_total", type = "counter", labels = { "collector", "program" },
                     samples = {}, help = "Time the BPF program ran in the kernel (with --bpf-stats)." }
  for _, c in ipairs(self.collectors) do
    for _, f in ipairs(c.families or {}) do
      if c.state then
        table.insert(dropped.samples, { f.name, value = f.dropped })
        table.insert(active.samples, { c.name, f.name, value = f:series_count() })
      end
    end
    if c.state then
      local names = {}
      for _, m in ipairs(c.maps or {}) do names[m.name] = true end
      for _, m in ipairs(c.maps or {}) do
        -- NAME_inserts beside a map NAME holds that map's insert counters
        -- (bpf/ebpfrun_maps.h): bookkeeping, not a table whose fill matters.
        local counters = names[m.name:match("^(.*)_inserts$") or ""]
        if not counters then
          if m.entries then table.insert(entries.samples, { c.name, m.name, value = m.entries }) end
          table.insert(max_entries.samples, { c.name, m.name, value = m.max_entries })
        end
      end
      if self.cfg.bpf_stats then
        for _, p in ipairs(c.programs or {}) do
          table.insert(runs.samples, { c.name, p.name, value = p.run_count })
          table.insert(run_time.samples, { c.name, p.name, value = p.run_seconds })
        end
      end
    end
    if c.load_seconds then table.insert(load.samples, { c.name, value = c.load_seconds }) end
    if c.state and c.state.path then table.insert(paths.samples, { c.name, c.state.path, value = 1 }) end
  end
  for key, n in pairs(self.attach_failures) do
    local name, stage = key:match("^(.-)%z(.*)$")
    table.insert(failures.samples, { name, stage, value = n })
  end
  local events = {}
  local event_help = { received = "Events received from the collector's ring or perf buffer.",
                       lost = "Events the kernel lost because the collector's perf buffer was full.",
                       dropped = "Events the BPF side dropped because the collector's ring buffer was full.",
                       bytes = "Bytes of events received from the collector's ring or perf buffer." }
  for field, help in pairs(event_help) do
    events[field] = { name = ("ebpfrun_events_%s_total"):format(field), type = "counter",
                      labels = { "collector", "reader" }, samples = {}, help = help }
  end
  for id, reader in pairs(ebpf._readers()) do
    for _, c in ipairs(self.collectors) do
      if c.state and c.state.obj == reader.object then
        local st = core.reader_stats(id)
        if st then
          for field, fam in pairs(events) do table.insert(fam.samples, { c.name, reader.name, value = st[field] }) end
        end
      end
    end
  end
  local families = { dropped, active, entries, max_entries, load, paths, failures, events.received, events.lost,
                     events.dropped, events.bytes }
  if self.cfg.bpf_stats then
    families[#families + 1] = runs
    families[#families + 1] = run_time
  end
  local cs = core.compile_stats and core.compile_stats()
  if cs then
    families[#families + 1] = { name = "ebpfrun_compile_cache_hits_total", type = "counter", labels = {},
                                help = "BPF objects taken from the compiled-object cache.",
                                samples = { { value = cs.cache_hits } } }
    families[#families + 1] = { name = "ebpfrun_compile_cache_misses_total", type = "counter", labels = {},
                                help = "BPF objects compiled because the cache had none.",
                                samples = { { value = cs.cache_misses } } }
    families[#families + 1] = { name = "ebpfrun_compile_seconds_total", type = "counter", labels = {},
                                help = "Time spent obtaining BPF objects (compiling or reading the cache).",
                                samples = { { value = cs.seconds } } }
  end
  families[#families + 1] = { name = "ebpfrun_lua_memory_bytes", type = "gauge", labels = {},
                              help = "Memory in use by the agent's Lua state (series state, rows, snapshots in the making).",
                              samples = { { value = collectgarbage("count") * 1024 } } }
  return families
end

return M

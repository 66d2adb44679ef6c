-- Default configuration of the ebpfrun agent, installed as
-- /etc/ebpfrun/agent.lua (PREFIX/etc/ebpfrun/agent.lua under another prefix)
-- and read by the systemd unit. A Lua file returning a table: it may compute.
-- Check a change before reloading it:
--   ebpfrun agent --check /etc/ebpfrun/agent.lua && systemctl reload ebpfrun-agent
return {
  -- Loopback only: /metrics shows process names and activity. Serve on
  -- another address only behind a firewall or in a pod (see the DaemonSet).
  listen = "127.0.0.1:9435",

  -- Seconds between reads of the collectors' maps. Scrapes never wait for it.
  interval = 5,

  -- The six shipped collectors. `false` turns one off; a table gives it its
  -- own filter or interval, e.g. syscalls = { filter = { comm = { "nginx" } } }.
  collectors = {
    syscalls = true,
    network = true,
    fileio = true,
    scheduler = true,
    memory = true,
    tcpstate = true,
  },

  -- Bounded cardinality: past series_per_metric new label sets fold into one
  -- overflow series (counted in ebpfrun_series_dropped_total); a series not
  -- updated for series_ttl seconds (an exited process) is dropped.
  limits = { series_per_metric = 10000, series_ttl = 300 },

  -- Labels removed before export; series are summed over them. Dropping
  -- "pid" (the default) aggregates by process name, so the series count
  -- follows the set of programs rather than of processes; { drop = {} }
  -- keeps a series per process.
  labels = { drop = { "pid" } },
}

-- tcpstate: TCP state transitions (from -> to) per process and service port,
-- with the time sockets spent in the state they left.
--   ebpfrun scripts/tcpstate.lua [--pid N] [--comm X] [--interval S] [--duration S] [--json] [--top N]
-- The port is the service port: the remote port of connections a process
-- opened, the local port of listeners and of the connections they accepted.
-- Processes are those that own the sockets, not whoever ran when the state
-- changed (see bpf/tcp_owner.h); pid 0 stands for sockets whose owner is not
-- known (they predate the tracer) and is shown only without a filter (the
-- exclusion of ebpfrun itself counts as one: give --include-self too).
local collector = require "ebpf.collector"
local ffi = require "ffi"

-- The kernel's TCP states (include/net/tcp_states.h), as the
-- sock/inet_sock_set_state tracepoint's format also prints them.
local STATES = { "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT", "CLOSE",
                 "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING", "NEW_SYN_RECV" }

local function state_name(n) return STATES[n] or tostring(n) end

local labels = { "pid", "comm", "port", "from", "to" }
local def = {
  name = "tcpstate",
  description = "TCP state transitions per process and port, with the time spent in each state.",
  source = collector.bpf_path("tcpstate.bpf.c"),
  -- Maps keyed by process (a pid or a struct with a pid field): the agent
  -- deletes an exited process's rows once it has read their final values.
  per_process = { "transitions" },
  metrics = {
    { name = "ebpfrun_tcp_state_transitions_total", type = "counter", labels = labels, value = "count",
      help = "TCP sockets that moved from one state to another." },
    { name = "ebpfrun_tcp_state_seconds_total", type = "counter", labels = labels, value = "seconds",
      help = "Time TCP sockets spent in state `from` before moving to `to` (where it is known)." },
  },
  key = { "pid", "port", "from", "to" },
  sort = "count",
  columns = {
    { "PID", key = "pid", align = "right" }, { "COMM", key = "comm", width = 16 },
    { "PORT", key = "port", align = "right" }, { "FROM", key = "from", width = 11 }, { "TO", key = "to", width = 11 },
    { "COUNT", key = "count", align = "right" },
    { "AVG_TIME", key = "avg_ns", format = "duration", align = "right" },
  },
  collect = function(state)
    local rows = {}
    for key, v in state.obj:map("transitions"):pairs() do
      local timed, ns = tonumber(v.timed), tonumber(v.total_ns)
      rows[#rows + 1] = { pid = key.pid, comm = key.pid == 0 and "[unknown]" or ffi.string(v.comm), port = key.port,
                          from = state_name(key.from), to = state_name(key.to), count = tonumber(v.count),
                          seconds = ns / 1e9, avg_ns = timed > 0 and ns / timed or nil }
    end
    return rows
  end,
}

if not EBPFRUN_COLLECTOR_LIBRARY then collector.main(def, arg) end
return def

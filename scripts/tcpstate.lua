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
local FREE = string.rep("\0", 8)

local labels = { "pid", "comm", "port", "from", "to" }
local def = {
  name = "tcpstate",
  description = "TCP state transitions per process and port, with the time spent in each state.",
  source = collector.bpf_path("tcpstate.bpf.c"),
  -- Maps keyed by process (a pid or a struct with a pid field): the agent
  -- deletes an exited process's rows once it has read their final values.
  -- transition_slots is an array whose values hold the pid: exited.lua
  -- frees a slot by zeroing it, with its counts in transition_counts.
  per_process = { "transitions", { map = "transition_slots", with = "transition_counts" } },
  -- One program for the exits of accept4() and accept() (bpf/tcpstate.bpf.c).
  also_attach = { tcpstate_accept = { "tracepoint/syscalls/sys_exit_accept" } },
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
    -- A key's counts are in its slot of transition_slots or in the
    -- transitions hash, and in both when it moved into a slot freed later
    -- (bpf/tcpstate.bpf.c): they are added up per key.
    local by_key, rows = {}, {}
    local function add(key, v)
      local id = ("%d:%d:%d:%d"):format(key.pid, key.port, key.from, key.to)
      local row = by_key[id]
      if not row then
        row = { pid = key.pid, comm = key.pid == 0 and "[unknown]" or ffi.string(v.comm), port = key.port,
                from = state_name(key.from), to = state_name(key.to), count = 0, timed = 0, ns = 0 }
        by_key[id] = row
        rows[#rows + 1] = row
      end
      row.count = row.count + tonumber(v.untimed) + tonumber(v.timed)
      row.timed, row.ns = row.timed + tonumber(v.timed), row.ns + tonumber(v.total_ns)
    end
    for key, v in state.obj:map("transitions"):pairs() do add(key, v) end
    -- The slots: a key and comm each (transition_slots), the counts per CPU
    -- at the same index (transition_counts). Only taken slots are decoded:
    -- the first word, the key, is 0 in a free one.
    local slots, counts = state.obj:map("transition_slots"), state.obj:map("transition_counts")
    local indices, keys = slots.raw:entries()
    if not indices then error(tostring(keys), 0) end
    local taken = {}
    for i = 1, #keys do
      if keys[i]:sub(1, 8) ~= FREE then taken[indices[i]] = keys[i] end
    end
    if next(taken) then
      local cindices, per_cpu = counts.raw:entries()
      if not cindices then error(tostring(per_cpu), 0) end
      for i = 1, #cindices do
        local key = taken[cindices[i]]
        if key then
          local k = ffi.new(slots.value_type)
          ffi.copy(k, key, ffi.sizeof(k))
          local sum = { untimed = 0, timed = 0, total_ns = 0, comm = k.comm }
          for _, c in ipairs(counts:_value(per_cpu[i])) do
            sum.untimed, sum.timed = sum.untimed + tonumber(c.untimed), sum.timed + tonumber(c.timed)
            sum.total_ns = sum.total_ns + tonumber(c.total_ns)
          end
          add(k, sum)
        end
      end
    end
    for _, row in ipairs(rows) do
      row.seconds, row.avg_ns = row.ns / 1e9, row.timed > 0 and row.ns / row.timed or nil
      row.timed, row.ns = nil, nil
    end
    return rows
  end,
}

if not EBPFRUN_COLLECTOR_LIBRARY then collector.main(def, arg) end
return def

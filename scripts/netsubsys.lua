-- netsubsys: the network stack's trouble signs around a process, as they
-- happen: packets the kernel drops and why (the kernel's own drop reason),
-- TCP retransmits, and TCP resets sent and received.
--   ebpfrun scripts/netsubsys.lua [--pid N] [--comm X] [--events drop,reset] [--json] [--duration S]
--   ebpfrun -c 'curl http://localhost:8080/' scripts/netsubsys.lua
--
-- Text: one line per event, and the totals at the end,
--   TIME        PID  COMM              EVENT           PROTO  SOURCE                 DESTINATION            DETAIL
--   12:00:01   4242  workload          drop            UDP    127.0.0.1:38211        127.0.0.1:40999        NO_SOCKET
--   12:00:01   4243  workload          reset_sent      TCP    127.0.0.1:40998        127.0.0.1:51234        NO_SOCKET
--   12:00:01   4245  server            reset_sent      TCP    127.0.0.1:8080         127.0.0.1:51250        TCP_STATE (CLOSE)
--   12:00:01   4243  workload          reset_received  TCP    127.0.0.1:51234        127.0.0.1:40998        SYN_SENT
--   12:00:02   4244  workload          retransmit      TCP    127.0.0.1:51240        127.0.0.1:40997        SYN_SENT
-- DETAIL is the drop reason, the reset reason, or the socket's TCP state.
-- JSON (--json): one object per event with time (ISO 8601), pid, tid (0 when
-- the event was given to a socket's owner), comm, event, by ("socket": the
-- owner of the socket involved; "task": the task the kernel was running
-- for), protocol, family, saddr, sport, daddr, dport, reason (drop or reset
-- reason name, else null), state (TCP state name or null), err (retransmits:
-- the kernel's result, 0 for success); and a last line {"final": true,
-- "totals": {"drop": n, ...}, "drop_reasons": {"NO_SOCKET": n, ...}}.
--
-- Reason names come from the running kernel's BTF (enum skb_drop_reason and
-- enum sk_rst_reason), without their SKB_DROP_REASON_ / SK_RST_REASON_
-- prefix. How events are given to processes is explained at the top of
-- bpf/netsubsys.bpf.c: by the socket's owner where the event names a socket,
-- else by the current task (for loopback traffic: the sender).
local ebpf = require "ebpf"
local args = require "ebpf.args"
local format = require "ebpf.format"
local json = require "ebpf.json"
local tool = require "ebpf.tool"
local ffi = require "ffi"

local M = {}

-- Linux 6.3 added sock_send_length and sock_recv_length; on older kernels
-- these programs are skipped with a note, sockets' owners are learned at
-- connect() and listen() only, and events of an accepted socket go to the
-- current task. (tests/vm/load-objects.lua reads this list too.)
M.optional = { "netsubsys_send", "netsubsys_recv" }

local KINDS = { [1] = "drop", [2] = "retransmit", [3] = "reset_sent", [4] = "reset_received" }
local BY = { [1] = "socket", [2] = "task" }
local PROTOCOLS = { [1] = "ICMP", [6] = "TCP", [17] = "UDP", [58] = "ICMPv6", [132] = "SCTP" }
-- include/net/tcp_states.h: part of the kernel's ABI (inet_diag reports them).
local TCP_STATES = { "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT", "CLOSE",
                     "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING", "NEW_SYN_RECV", "BOUND_INACTIVE" }

-- value -> name of a kernel enum as the running kernel numbers it (its BTF),
-- without `prefix`. Not the object's BTF: a prebuilt object carries the
-- build machine's numbering, and the values the programs record are the
-- running kernel's. An enum the kernel does not have (sk_rst_reason before
-- Linux 6.10) gives no names: the values are shown as numbers.
function M.enum_names(type_name, prefix)
  local names = {}
  local values, err = ebpf.kernel_enum_values(type_name)
  if not values then
    if err.kind == "not_found" then return names end
    return nil, err
  end
  for _, c in ipairs(values) do
    names[c.value] = c.name:sub(1, #prefix) == prefix and c.name:sub(#prefix + 1) or c.name
  end
  return names
end

function M.ipv4(bytes)
  return ("%d.%d.%d.%d"):format(bytes[0], bytes[1], bytes[2], bytes[3])
end

-- RFC 5952 text: lower-case hex groups, the longest run of zero groups as "::".
function M.ipv6(bytes)
  local groups = {}
  for i = 0, 7 do groups[i + 1] = bytes[2 * i] * 256 + bytes[2 * i + 1] end
  if groups[1] == 0 and groups[2] == 0 and groups[3] == 0 and groups[4] == 0 and groups[5] == 0
    and groups[6] == 0xffff then
    return "::ffff:" .. M.ipv4(bytes + 12)
  end
  local best_at, best_len, at, len = 0, 0, 0, 0
  for i = 1, 8 do
    if groups[i] == 0 then
      if len == 0 then at = i end
      len = len + 1
      if len > best_len then best_at, best_len = at, len end
    else
      len = 0
    end
  end
  local parts = {}
  for i = 1, 8 do parts[i] = ("%x"):format(groups[i]) end
  if best_len < 2 then return table.concat(parts, ":") end
  return table.concat(parts, ":", 1, best_at - 1) .. "::" .. table.concat(parts, ":", best_at + best_len, 8)
end

function M.address(family, bytes)
  if family == 2 then return M.ipv4(bytes) end
  if family == 10 then return M.ipv6(bytes) end
  return json.null
end

function M.decode(e, names)
  local kind = KINDS[e.kind] or tostring(e.kind)
  local reason = json.null
  if kind == "drop" then reason = names.drop[e.drop_reason] or tostring(e.drop_reason) end
  if kind == "reset_sent" then reason = names.reset[e.rst_reason] or tostring(e.rst_reason) end
  local src = ffi.cast("const uint8_t *", e.saddr)
  local dst = ffi.cast("const uint8_t *", e.daddr)
  return {
    time = format.timestamp(format.now(), "iso"),
    pid = e.pid, tid = e.tid, comm = ffi.string(e.comm),
    event = kind, by = BY[e.by] or json.null,
    protocol = PROTOCOLS[e.protocol] or (e.protocol ~= 0 and tostring(e.protocol)) or json.null,
    family = e.family == 2 and "inet" or e.family == 10 and "inet6" or json.null,
    saddr = M.address(e.family, src), daddr = M.address(e.family, dst),
    sport = e.sport, dport = e.dport,
    reason = reason,
    state = TCP_STATES[e.state] or json.null,
    err = kind == "retransmit" and e.err or json.null,
  }
end

local function endpoint(addr, port, row)
  if addr == json.null then return "-" end
  local text = row.family == "inet6" and "[" .. addr .. "]" or addr
  return port ~= 0 and text .. ":" .. port or text
end

M.columns = {
  { "TIME", key = "clock", width = 8 },
  { "PID", key = "pid", align = "right", width = 7 },
  { "COMM", key = "comm", width = 16 },
  { "EVENT", key = "event", width = 14 },
  { "PROTO", key = "protocol", width = 5, format = function(v) return v == json.null and "-" or v end },
  { "SOURCE", key = "saddr", width = 21, format = function(v, row) return endpoint(v, row.sport, row) end },
  { "DESTINATION", key = "daddr", width = 21, format = function(v, row) return endpoint(v, row.dport, row) end },
  { "DETAIL", key = "event", format = function(_, row)
      local parts = {}
      if row.reason ~= json.null then parts[#parts + 1] = row.reason end
      if row.state ~= json.null then
        parts[#parts + 1] = #parts > 0 and "(" .. row.state .. ")" or row.state
      end
      if row.err ~= json.null and row.err ~= 0 then parts[#parts + 1] = "failed " .. (format.errno_name(row.err) or row.err) end
      return table.concat(parts, " ")
    end },
}

local ALL_EVENTS = { drop = true, retransmit = true, reset = true }

function M.main(argv)
  local opts = args.parse(argv, {
    name = "netsubsys",
    description = "Trace the network stack's trouble signs around a process: packet drops with the kernel's "
      .. "drop reason, TCP retransmits, TCP resets sent and received.",
    options = { { "--events", type = "string", multiple = true, metavar = "KIND",
                  help = "show only these: drop, retransmit, reset (repeatable or comma-separated)" } },
    standard = { "pid", "tid", "comm", "uid", "cgroup", "json", "interval", "duration" },
    epilog = "Examples:\n  ebpfrun scripts/netsubsys.lua --events drop\n  ebpfrun -c 'curl localhost:8080' scripts/netsubsys.lua --json",
  })
  local wanted = {}
  for _, list in ipairs(opts.events) do
    for kind in list:gmatch("[^,%s]+") do
      if not ALL_EVENTS[kind] then
        io.stderr:write(("netsubsys: unknown event kind '%s' (use drop, retransmit or reset)\n"):format(kind))
        return 2
      end
      wanted[kind] = true
    end
  end
  if next(wanted) == nil then wanted = ALL_EVENTS end
  local names = {}
  local totals, reasons = json.object(), json.object()
  return tool.stream {
    name = "netsubsys", source = "netsubsys.bpf.c", filter = opts.filter, type = "struct net_event",
    columns = M.columns, json = opts.json, duration = opts.duration, interval = opts.interval,
    -- The reason names must be there before the first event.
    loaded = function()
      names.drop = assert(M.enum_names("enum skb_drop_reason", "SKB_DROP_REASON_"))
      names.reset = assert(M.enum_names("enum sk_rst_reason", "SK_RST_REASON_"))
    end,
    optional = M.optional,
    on_event = function(e, out)
      local row = M.decode(e, names)
      local family = row.event:match("^reset") and "reset" or row.event
      if not wanted[family] then return end
      totals[row.event] = (totals[row.event] or 0) + 1
      if row.event == "drop" then reasons[row.reason] = (reasons[row.reason] or 0) + 1 end
      if out.json then return out:event(row) end
      row.clock = format.timestamp(nil, "time")
      out:row(row)
    end,
    finish = function(out, lost)
      if out.json then
        return out:event { final = true, totals = totals, drop_reasons = reasons, lost = lost }
      end
      local parts = {}
      for _, kind in ipairs { "drop", "retransmit", "reset_sent", "reset_received" } do
        parts[#parts + 1] = ("%s %d"):format(kind, totals[kind] or 0)
      end
      local by_reason = {}
      for reason, n in pairs(reasons) do by_reason[#by_reason + 1] = ("%s %d"):format(reason, n) end
      table.sort(by_reason)
      out:note(("totals: %s%s"):format(table.concat(parts, ", "),
        #by_reason > 0 and " (drops: " .. table.concat(by_reason, ", ") .. ")" or ""))
    end,
  }
end

if not EBPFRUN_COLLECTOR_LIBRARY then os.exit(M.main(arg)) end
return M

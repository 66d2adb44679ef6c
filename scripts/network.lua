-- network: TCP and UDP bytes and calls sent and received per process (and per
-- remote address with --per-address), plus TCP retransmits.
--   ebpfrun scripts/network.lua [--per-address] [--pid N] [--comm X] [--interval S] [--duration S] [--json]
-- Bytes are what processes handed to or took from their sockets (every
-- send/write/sendto/sendmsg and recv/read/recvfrom/recvmsg, from fexit on
-- the socket layer's inet/inet6 sendmsg/recvmsg where the kernel allows
-- fentry, else from the sock_send_length/sock_recv_length tracepoints:
-- --attach-path); a call is one such operation that succeeded (a read that
-- returned end-of-file included).
-- Retransmits belong to the process that last used the socket, and appear
-- on its TCP "tx" row; pid 0 stands for sockets never seen in use (shown
-- only without a filter; the exclusion of ebpfrun itself counts as one, so
-- they need --include-self as well).
local collector = require "ebpf.collector"
local ffi = require "ffi"

ffi.cdef [[
const char *ebpfrun_network_inet_ntop(int af, const void *src, char *dst, unsigned int size) asm("inet_ntop");
]]

local AF_INET, AF_INET6 = 2, 10
local PROTOS = { [6] = "tcp", [17] = "udp" }
local DIRECTIONS = { [0] = "tx", [1] = "rx" }
local text_buffer = ffi.new("char[64]")

-- "10.0.0.1:80", "[::1]:80", or "*" for an unknown remote (an unconnected
-- UDP socket used without an address, or --per-address not given).
local function remote_text(r)
  local family = tonumber(r.family)
  if family ~= AF_INET and family ~= AF_INET6 then return "*" end
  local ip = ffi.string(ffi.C.ebpfrun_network_inet_ntop(family, r.addr, text_buffer, 64))
  return (family == AF_INET6 and "[%s]:%d" or "%s:%d"):format(ip, tonumber(r.port))
end

local labels = { "pid", "comm", "proto", "direction", "remote" }
local def = {
  name = "network",
  description = "TCP and UDP bytes and calls per process (and remote address), and TCP retransmits.",
  source = collector.bpf_path("network.bpf.c"),
  options = {
    { "--per-address", type = "flag", help = "one row per remote address and port (the remote label)" },
  },
  defines = function(opts) return opts.per_address and { "PER_ADDRESS=1" } or nil end,
  -- The same bytes from either attach path (bpf/network.bpf.c); the
  -- retransmit and state tracepoints are common to both.
  paths = {
    { name = "fentry", programs = { "network_fexit_inet_sendmsg", "network_fexit_inet6_sendmsg",
                                    "network_fexit_inet_recvmsg", "network_fexit_inet6_recvmsg" } },
    { name = "tracepoint", programs = function(opts)
        local programs = { "network_send", "network_receive" }
        if opts.per_address then
          for _, call in ipairs({ "sendto", "recvfrom", "sendmsg", "recvmsg" }) do
            programs[#programs + 1] = "network_enter_" .. call
            programs[#programs + 1] = "network_exit_" .. call
          end
          programs[#programs + 1] = "network_thread_exit"
        end
        return programs
      end },
  },
  -- Maps keyed by process (a pid or a struct with a pid field): the agent
  -- deletes an exited process's rows once it has read their final values.
  per_process = { "traffic" },
  metrics = {
    { name = "ebpfrun_network_bytes_total", type = "counter", labels = labels, value = "bytes",
      help = "Bytes sent (direction tx) or received (rx) through TCP and UDP sockets; remote is set with --per-address." },
    { name = "ebpfrun_network_calls_total", type = "counter", labels = labels, value = "calls",
      help = "Successful send and receive calls on TCP and UDP sockets." },
    { name = "ebpfrun_tcp_retransmits_total", type = "counter", labels = { "pid", "comm", "remote" },
      value = "retransmits", help = "TCP segments retransmitted, by the process that last used the socket." },
  },
  key = { "pid", "proto", "direction", "remote" },
  sort = "bytes",
  columns = {
    { "PID", key = "pid", align = "right" }, { "COMM", key = "comm", width = 16 },
    { "PROTO", key = "proto" }, { "DIR", key = "direction", width = 3 }, { "REMOTE", key = "remote", width = 21 },
    { "BYTES", key = "bytes", format = "bytes" }, { "CALLS", key = "calls", align = "right" },
    { "RETRANS", key = "retransmits", align = "right" },
  },
  -- The REMOTE column only means something with --per-address.
  start = function(state)
    if state.opts.per_address then return end
    local columns = {}
    for _, c in ipairs(state.def.columns) do
      if c.key ~= "remote" then columns[#columns + 1] = c end
    end
    state.def.columns = columns
  end,
  collect = function(state)
    local rows = {}
    for key, v in state.obj:map("traffic"):pairs() do
      local row = { pid = key.pid, comm = key.pid == 0 and "[unknown]" or ffi.string(v.comm),
                    proto = PROTOS[key.proto] or tostring(key.proto), direction = DIRECTIONS[key.direction],
                    remote = state.opts.per_address and remote_text(key.remote) or "",
                    bytes = tonumber(v.bytes), calls = tonumber(v.calls) }
      if key.proto == 6 and key.direction == 0 then row.retransmits = tonumber(v.retransmits) end
      rows[#rows + 1] = row
    end
    return rows
  end,
}

if not EBPFRUN_COLLECTOR_LIBRARY then collector.main(def, arg) end
return def

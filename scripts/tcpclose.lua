-- tcpclose: one line per TCP connection that closes, like BCC's tcplife: the
-- process that owned it, its addresses and ports, the payload bytes it sent
-- and received, and how long it lived.
--   ebpfrun scripts/tcpclose.lua [--pid N] [--comm X] [--port N] [--json] [--duration S]
-- Text: TIME PID COMM IP LADDR LPORT RADDR RPORT TX RX DURATION. JSON (one
-- object per line): time (ISO 8601), pid, comm, ip (4 or 6), laddr, lport,
-- raddr, rport, tx_bytes, rx_bytes, duration_ns (absent when the connection
-- predates the tracer), state (the state it closed from, e.g. FIN_WAIT2).
-- Only connections that were established are reported (tcpconnect shows
-- failed attempts). The owner is the process that connected or accepted,
-- not whoever ran when the socket closed (see bpf/tcp_owner.h); pid 0 means
-- unknown, shown only without a filter. From tracepoints (bpf/tcplife.bpf.c),
-- with accepts from fexit on inet_csk_accept where the kernel allows fentry
-- (--attach-path), so it runs without kprobes.
local args = require "ebpf.args"
local format = require "ebpf.format"
local tool = require "ebpf.tool"
local collector = require "ebpf.collector"
local ffi = require "ffi"

local opts = args.parse(arg, {
  name = "tcpclose",
  description = "Trace TCP connections as they close: process, addresses, ports, bytes and duration.",
  options = { { "--port", type = "int", multiple = true, metavar = "PORT", min = 0,
                help = "only connections with this local or remote port (repeatable)" },
              collector.attach_path_option() },
  standard = { "pid", "tid", "comm", "uid", "cgroup", "json", "interval", "duration" },
  epilog = "Examples:\n  ebpfrun scripts/tcpclose.lua --port 443\n  ebpfrun -c 'curl -s example.com' scripts/tcpclose.lua --json",
})

local AF_INET = 2
local STATES = { "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT", "CLOSE",
                 "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING", "NEW_SYN_RECV" } -- include/net/tcp_states.h

local ports = {}
for _, p in ipairs(opts.port) do ports[p] = true end

local columns = {
  { "TIME", key = "time", format = function(v) return format.timestamp(v) end, width = 8 },
  { "PID", key = "pid", align = "right", width = 7 }, { "COMM", key = "comm", width = 16 },
  { "IP", key = "ip", width = 2 }, { "LADDR", key = "laddr", width = 15 }, { "LPORT", key = "lport", align = "right" },
  { "RADDR", key = "raddr", width = 15 }, { "RPORT", key = "rport", align = "right" },
  { "TX", key = "tx_bytes", format = "bytes" }, { "RX", key = "rx_bytes", format = "bytes" },
  { "DURATION", key = "duration_ns", format = "duration", width = 8 },
}

local function on_event(e, out)
  if next(ports) and not ports[e.lport] and not ports[e.rport] then return end
  local family = e.family
  local duration = tonumber(e.duration_ns)
  local time = tool.monotonic_to_wall(e.ts_ns)
  out:event {
    time = out.json and format.timestamp(time, "iso") or time, pid = e.pid, comm = ffi.string(e.comm),
    ip = family == AF_INET and 4 or 6, laddr = tool.address(family, e.laddr), lport = e.lport,
    raddr = tool.address(family, e.raddr), rport = e.rport, tx_bytes = tonumber(e.tx_bytes),
    rx_bytes = tonumber(e.rx_bytes), duration_ns = duration > 0 and duration or nil,
    state = STATES[e.state] or tostring(e.state),
  }
end

-- The short drop message is the one these tools have always printed.
os.exit(tool.stream {
  name = "tcpclose", source = "tcplife.bpf.c", defines = { "TCP_EVENTS=4" }, filter = opts.filter,
  type = "struct tcp_event", columns = columns, json = opts.json, flush = true, duration = opts.duration, interval = opts.interval,
  banner = "Tracing TCP closes... Hit Ctrl-C to end.", drop_format = "%s: %d events dropped",
  -- Accepts from fexit on inet_csk_accept where the kernel allows fentry,
  -- else from the accept syscalls' exit tracepoints.
  paths = tool.PATHS["tcplife.bpf.c"], attach_path = opts.attach_path,
  also_attach = tool.ALSO_ATTACH["tcplife.bpf.c"],
  on_event = on_event,
})

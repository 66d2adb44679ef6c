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
-- unknown, shown only without a filter. From tracepoints only
-- (bpf/tcplife.bpf.c), so it runs without kprobes.
local ebpf = require "ebpf"
local args = require "ebpf.args"
local collector = require "ebpf.collector"
local format = require "ebpf.format"
local output = require "ebpf.output"
local ffi = require "ffi"

local opts = args.parse(arg, {
  name = "tcpclose",
  description = "Trace TCP connections as they close: process, addresses, ports, bytes and duration.",
  options = { { "--port", type = "int", multiple = true, metavar = "PORT", min = 0,
                help = "only connections with this local or remote port (repeatable)" } },
  standard = { "pid", "tid", "comm", "uid", "cgroup", "json", "duration" },
  epilog = "Examples:\n  ebpfrun scripts/tcpclose.lua --port 443\n  ebpfrun -c 'curl -s example.com' scripts/tcpclose.lua --json",
})

ffi.cdef [[
struct ebpfrun_tcpclose_timespec { long sec; long nsec; };
int ebpfrun_tcpclose_clock_gettime(int clock, struct ebpfrun_tcpclose_timespec *ts) asm("clock_gettime");
const char *ebpfrun_tcpclose_inet_ntop(int af, const void *src, char *dst, unsigned int size) asm("inet_ntop");
]]
local AF_INET = 2
local STATES = { "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT", "CLOSE",
                 "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING", "NEW_SYN_RECV" } -- include/net/tcp_states.h
local ip_text = ffi.new("char[64]")
local function address(family, bytes)
  return ffi.string(ffi.C.ebpfrun_tcpclose_inet_ntop(family, bytes, ip_text, 64))
end

-- Event times are CLOCK_MONOTONIC nanoseconds; this is wall-clock minus that.
local ts = ffi.new("struct ebpfrun_tcpclose_timespec")
ffi.C.ebpfrun_tcpclose_clock_gettime(1, ts)
local clock_offset = format.now() - (tonumber(ts.sec) + tonumber(ts.nsec) / 1e9)

local ports = {}
for _, p in ipairs(opts.port) do ports[p] = true end

local obj, err = ebpf.compile { file = collector.bpf_path("tcplife.bpf.c"), filter = opts.filter,
                                defines = { "TCP_EVENTS=4" } }
if not obj then io.stderr:write("tcpclose: ", err, "\n"); os.exit(1) end
local attached, aerr = obj:attach_all()
if not attached then io.stderr:write("tcpclose: ", aerr, "\n"); os.exit(1) end

local out = output.new { json = opts.json or ebpf.options.format == "json", flush = true, columns = {
  { "TIME", key = "time", format = function(v) return format.timestamp(v) end, width = 8 },
  { "PID", key = "pid", align = "right", width = 7 }, { "COMM", key = "comm", width = 16 },
  { "IP", key = "ip", width = 2 }, { "LADDR", key = "laddr", width = 15 }, { "LPORT", key = "lport", align = "right" },
  { "RADDR", key = "raddr", width = 15 }, { "RPORT", key = "rport", align = "right" },
  { "TX", key = "tx_bytes", format = "bytes" }, { "RX", key = "rx_bytes", format = "bytes" },
  { "DURATION", key = "duration_ns", format = "duration", width = 8 },
} }

local events = assert(obj:ringbuf("events", "struct tcp_event"))
events:on(function(e)
  if next(ports) and not ports[e.lport] and not ports[e.rport] then return end
  local family = e.family
  local duration = tonumber(e.duration_ns)
  local time = clock_offset + tonumber(e.ts_ns) / 1e9
  out:event {
    time = out.json and format.timestamp(time, "iso") or time, pid = e.pid, comm = ffi.string(e.comm),
    ip = family == AF_INET and 4 or 6, laddr = address(family, e.laddr), lport = e.lport,
    raddr = address(family, e.raddr), rport = e.rport, tx_bytes = tonumber(e.tx_bytes),
    rx_bytes = tonumber(e.rx_bytes), duration_ns = duration > 0 and duration or nil,
    state = STATES[e.state] or tostring(e.state),
  }
end)

out:note("Tracing TCP closes... Hit Ctrl-C to end.")
out:header()
ebpf.run { duration = opts.duration }
local stats = events:stats()
if stats.dropped > 0 then io.stderr:write(("tcpclose: %d events dropped\n"):format(stats.dropped)) end

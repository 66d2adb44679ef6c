-- tcpconnect: one line per TCP connect() (active open), like BCC's tcpconnect,
-- printed when the attempt completes: with its latency, and the error when
-- it failed.
--   ebpfrun scripts/tcpconnect.lua [--pid N] [--comm X] [--port N] [--json] [--duration S]
-- Text: TIME PID COMM IP SADDR SPORT DADDR DPORT LATENCY RESULT. JSON (one
-- object per line): time (ISO 8601), pid, comm, ip (4 or 6), saddr, sport,
-- daddr, dport, latency_ns, result ("ok", or the errno name such as
-- "ECONNREFUSED", or "closed" when the socket was closed before an answer).
-- From tracepoints only (bpf/tcplife.bpf.c), so it runs without kprobes.
local ebpf = require "ebpf"
local args = require "ebpf.args"
local collector = require "ebpf.collector"
local format = require "ebpf.format"
local output = require "ebpf.output"
local ffi = require "ffi"

local opts = args.parse(arg, {
  name = "tcpconnect",
  description = "Trace TCP connects: process, addresses, ports, latency and outcome.",
  options = { { "--port", type = "int", multiple = true, metavar = "PORT", min = 0,
                help = "only connects to this remote port (repeatable)" } },
  standard = { "pid", "tid", "comm", "uid", "cgroup", "json", "duration" },
  epilog = "Examples:\n  ebpfrun scripts/tcpconnect.lua --comm curl\n  ebpfrun -c 'curl -s example.com' scripts/tcpconnect.lua --json",
})

ffi.cdef [[
struct ebpfrun_tcpconnect_timespec { long sec; long nsec; };
int ebpfrun_tcpconnect_clock_gettime(int clock, struct ebpfrun_tcpconnect_timespec *ts) asm("clock_gettime");
const char *ebpfrun_tcpconnect_inet_ntop(int af, const void *src, char *dst, unsigned int size) asm("inet_ntop");
]]
local AF_INET, TCP_ESTABLISHED = 2, 1
local ip_text = ffi.new("char[64]")
local function address(family, bytes)
  return ffi.string(ffi.C.ebpfrun_tcpconnect_inet_ntop(family, bytes, ip_text, 64))
end

-- Event times are CLOCK_MONOTONIC nanoseconds; this is wall-clock minus that.
local ts = ffi.new("struct ebpfrun_tcpconnect_timespec")
ffi.C.ebpfrun_tcpconnect_clock_gettime(1, ts)
local clock_offset = format.now() - (tonumber(ts.sec) + tonumber(ts.nsec) / 1e9)

local ports = {}
for _, p in ipairs(opts.port) do ports[p] = true end

local obj, err = ebpf.compile { file = collector.bpf_path("tcplife.bpf.c"), filter = opts.filter,
                                defines = { "TCP_EVENTS=1" } }
if not obj then io.stderr:write("tcpconnect: ", err, "\n"); os.exit(1) end
local attached, aerr = obj:attach_all()
if not attached then io.stderr:write("tcpconnect: ", aerr, "\n"); os.exit(1) end

local out = output.new { json = opts.json or ebpf.options.format == "json", flush = true, columns = {
  { "TIME", key = "time", format = function(v) return format.timestamp(v) end, width = 8 },
  { "PID", key = "pid", align = "right", width = 7 }, { "COMM", key = "comm", width = 16 },
  { "IP", key = "ip", width = 2 }, { "SADDR", key = "saddr", width = 15 }, { "SPORT", key = "sport", align = "right" },
  { "DADDR", key = "daddr", width = 15 }, { "DPORT", key = "dport", align = "right" },
  { "LATENCY", key = "latency_ns", format = "duration" }, { "RESULT", key = "result" },
} }

local events = assert(obj:ringbuf("events", "struct tcp_event"))
events:on(function(e)
  if next(ports) and not ports[e.rport] then return end
  local family = e.family
  local result = "ok"
  if e.state ~= TCP_ESTABLISHED then result = e.error ~= 0 and format.errno_name(e.error) or "closed" end
  local time = clock_offset + tonumber(e.ts_ns) / 1e9
  out:event {
    time = out.json and format.timestamp(time, "iso") or time, pid = e.pid, comm = ffi.string(e.comm),
    ip = family == AF_INET and 4 or 6, saddr = address(family, e.laddr), sport = e.lport,
    daddr = address(family, e.raddr), dport = e.rport, latency_ns = tonumber(e.duration_ns), result = result,
  }
end)

out:note("Tracing TCP connects... Hit Ctrl-C to end.")
out:header()
ebpf.run { duration = opts.duration }
local stats = events:stats()
if stats.dropped > 0 then io.stderr:write(("tcpconnect: %d events dropped\n"):format(stats.dropped)) end

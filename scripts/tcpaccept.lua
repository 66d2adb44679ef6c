-- tcpaccept: one line per TCP connection accepted by accept()/accept4()
-- (passive open), like BCC's tcpaccept, in the process that accepts it.
--   ebpfrun scripts/tcpaccept.lua [--pid N] [--comm X] [--port N] [--json] [--duration S]
-- Text: TIME PID COMM IP RADDR RPORT LADDR LPORT. JSON (one object per line):
-- time (ISO 8601), pid, comm, ip (4 or 6), raddr, rport, laddr, lport.
-- From the accept syscalls' exit tracepoints, following the new descriptor to
-- its socket (bpf/tcplife.bpf.c), so it runs without kprobes; io_uring
-- accepts are not seen.
local ebpf = require "ebpf"
local args = require "ebpf.args"
local collector = require "ebpf.collector"
local format = require "ebpf.format"
local output = require "ebpf.output"
local ffi = require "ffi"

local opts = args.parse(arg, {
  name = "tcpaccept",
  description = "Trace TCP accepts: process, remote and local addresses and ports.",
  options = { { "--port", type = "int", multiple = true, metavar = "PORT", min = 0,
                help = "only accepts on this local port (repeatable)" } },
  standard = { "pid", "tid", "comm", "uid", "cgroup", "json", "duration" },
  epilog = "Examples:\n  ebpfrun scripts/tcpaccept.lua --port 22\n  ebpfrun scripts/tcpaccept.lua --comm nginx --json",
})

ffi.cdef [[
struct ebpfrun_tcpaccept_timespec { long sec; long nsec; };
int ebpfrun_tcpaccept_clock_gettime(int clock, struct ebpfrun_tcpaccept_timespec *ts) asm("clock_gettime");
const char *ebpfrun_tcpaccept_inet_ntop(int af, const void *src, char *dst, unsigned int size) asm("inet_ntop");
]]
local AF_INET = 2
local ip_text = ffi.new("char[64]")
local function address(family, bytes)
  return ffi.string(ffi.C.ebpfrun_tcpaccept_inet_ntop(family, bytes, ip_text, 64))
end

-- Event times are CLOCK_MONOTONIC nanoseconds; this is wall-clock minus that.
local ts = ffi.new("struct ebpfrun_tcpaccept_timespec")
ffi.C.ebpfrun_tcpaccept_clock_gettime(1, ts)
local clock_offset = format.now() - (tonumber(ts.sec) + tonumber(ts.nsec) / 1e9)

local ports = {}
for _, p in ipairs(opts.port) do ports[p] = true end

local obj, err = ebpf.compile { file = collector.bpf_path("tcplife.bpf.c"), filter = opts.filter,
                                defines = { "TCP_EVENTS=2" } }
if not obj then io.stderr:write("tcpaccept: ", err, "\n"); os.exit(1) end
local attached, aerr = obj:attach_all()
if not attached then io.stderr:write("tcpaccept: ", aerr, "\n"); os.exit(1) end

local out = output.new { json = opts.json or ebpf.options.format == "json", flush = true, columns = {
  { "TIME", key = "time", format = function(v) return format.timestamp(v) end, width = 8 },
  { "PID", key = "pid", align = "right", width = 7 }, { "COMM", key = "comm", width = 16 },
  { "IP", key = "ip", width = 2 }, { "RADDR", key = "raddr", width = 15 }, { "RPORT", key = "rport", align = "right" },
  { "LADDR", key = "laddr", width = 15 }, { "LPORT", key = "lport", align = "right" },
} }

local events = assert(obj:ringbuf("events", "struct tcp_event"))
events:on(function(e)
  if next(ports) and not ports[e.lport] then return end
  local family = e.family
  local time = clock_offset + tonumber(e.ts_ns) / 1e9
  out:event {
    time = out.json and format.timestamp(time, "iso") or time, pid = e.pid, comm = ffi.string(e.comm),
    ip = family == AF_INET and 4 or 6, raddr = address(family, e.raddr), rport = e.rport,
    laddr = address(family, e.laddr), lport = e.lport,
  }
end)

out:note("Tracing TCP accepts... Hit Ctrl-C to end.")
out:header()
ebpf.run { duration = opts.duration }
local stats = events:stats()
if stats.dropped > 0 then io.stderr:write(("tcpaccept: %d events dropped\n"):format(stats.dropped)) end

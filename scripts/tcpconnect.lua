-- tcpconnect: one line per TCP connect() (active open), like BCC's tcpconnect,
-- printed when the attempt completes: with its latency, and the error when
-- it failed.
--   ebpfrun scripts/tcpconnect.lua [--pid N] [--comm X] [--port N] [--json] [--duration S]
-- Text: TIME PID COMM IP SADDR SPORT DADDR DPORT LATENCY RESULT. JSON (one
-- object per line): time (ISO 8601), pid, comm, ip (4 or 6), saddr, sport,
-- daddr, dport, latency_ns, result ("ok", or the errno name such as
-- "ECONNREFUSED", or "closed" when the socket was closed before an answer).
-- From tracepoints only (bpf/tcplife.bpf.c), so it runs without kprobes.
local args = require "ebpf.args"
local format = require "ebpf.format"
local tool = require "ebpf.tool"
local ffi = require "ffi"

local opts = args.parse(arg, {
  name = "tcpconnect",
  description = "Trace TCP connects: process, addresses, ports, latency and outcome.",
  options = { { "--port", type = "int", multiple = true, metavar = "PORT", min = 0,
                help = "only connects to this remote port (repeatable)" } },
  standard = { "pid", "tid", "comm", "uid", "cgroup", "json", "interval", "duration" },
  epilog = "Examples:\n  ebpfrun scripts/tcpconnect.lua --comm curl\n  ebpfrun -c 'curl -s example.com' scripts/tcpconnect.lua --json",
})

local AF_INET, TCP_ESTABLISHED = 2, 1

local ports = {}
for _, p in ipairs(opts.port) do ports[p] = true end

local columns = {
  { "TIME", key = "time", format = function(v) return format.timestamp(v) end, width = 8 },
  { "PID", key = "pid", align = "right", width = 7 }, { "COMM", key = "comm", width = 16 },
  { "IP", key = "ip", width = 2 }, { "SADDR", key = "saddr", width = 15 }, { "SPORT", key = "sport", align = "right" },
  { "DADDR", key = "daddr", width = 15 }, { "DPORT", key = "dport", align = "right" },
  { "LATENCY", key = "latency_ns", format = "duration" }, { "RESULT", key = "result" },
}

local function on_event(e, out)
  if next(ports) and not ports[e.rport] then return end
  local family = e.family
  local result = "ok"
  if e.state ~= TCP_ESTABLISHED then result = e.error ~= 0 and format.errno_name(e.error) or "closed" end
  local time = tool.monotonic_to_wall(e.ts_ns)
  out:event {
    time = out.json and format.timestamp(time, "iso") or time, pid = e.pid, comm = ffi.string(e.comm),
    ip = family == AF_INET and 4 or 6, saddr = tool.address(family, e.laddr), sport = e.lport,
    daddr = tool.address(family, e.raddr), dport = e.rport, latency_ns = tonumber(e.duration_ns), result = result,
  }
end

-- The short drop message is the one these tools have always printed.
os.exit(tool.stream {
  name = "tcpconnect", source = "tcplife.bpf.c", defines = { "TCP_EVENTS=1" }, filter = opts.filter,
  type = "struct tcp_event", columns = columns, json = opts.json, flush = true, duration = opts.duration, interval = opts.interval,
  banner = "Tracing TCP connects... Hit Ctrl-C to end.", drop_format = "%s: %d events dropped",
  on_event = on_event,
})

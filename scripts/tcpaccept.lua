-- tcpaccept: one line per TCP connection accepted by accept()/accept4()
-- (passive open), like BCC's tcpaccept, in the process that accepts it.
--   ebpfrun scripts/tcpaccept.lua [--pid N] [--comm X] [--port N] [--json] [--duration S]
-- Text: TIME PID COMM IP RADDR RPORT LADDR LPORT. JSON (one object per line):
-- time (ISO 8601), pid, comm, ip (4 or 6), raddr, rport, laddr, lport.
-- From fexit on inet_csk_accept where the kernel allows fentry (io_uring
-- accepts included), else from the accept syscalls' exit tracepoints,
-- following the new descriptor to its socket (bpf/tcplife.bpf.c; io_uring
-- accepts are not seen then): --attach-path.
local args = require "ebpf.args"
local format = require "ebpf.format"
local tool = require "ebpf.tool"
local collector = require "ebpf.collector"
local ffi = require "ffi"

local opts = args.parse(arg, {
  name = "tcpaccept",
  description = "Trace TCP accepts: process, remote and local addresses and ports.",
  options = { { "--port", type = "int", multiple = true, metavar = "PORT", min = 0,
                help = "only accepts on this local port (repeatable)" },
              collector.attach_path_option() },
  standard = { "pid", "tid", "comm", "uid", "cgroup", "json", "interval", "duration" },
  epilog = "Examples:\n  ebpfrun scripts/tcpaccept.lua --port 22\n  ebpfrun scripts/tcpaccept.lua --comm nginx --json",
})

local AF_INET = 2

local ports = {}
for _, p in ipairs(opts.port) do ports[p] = true end

local columns = {
  { "TIME", key = "time", format = function(v) return format.timestamp(v) end, width = 8 },
  { "PID", key = "pid", align = "right", width = 7 }, { "COMM", key = "comm", width = 16 },
  { "IP", key = "ip", width = 2 }, { "RADDR", key = "raddr", width = 15 }, { "RPORT", key = "rport", align = "right" },
  { "LADDR", key = "laddr", width = 15 }, { "LPORT", key = "lport", align = "right" },
}

local function on_event(e, out)
  if next(ports) and not ports[e.lport] then return end
  local family = e.family
  local time = tool.monotonic_to_wall(e.ts_ns)
  out:event {
    time = out.json and format.timestamp(time, "iso") or time, pid = e.pid, comm = ffi.string(e.comm),
    ip = family == AF_INET and 4 or 6, raddr = tool.address(family, e.raddr), rport = e.rport,
    laddr = tool.address(family, e.laddr), lport = e.lport,
  }
end

-- The short drop message is the one these tools have always printed.
os.exit(tool.stream {
  name = "tcpaccept", source = "tcplife.bpf.c", defines = { "TCP_EVENTS=2" }, filter = opts.filter,
  type = "struct tcp_event", columns = columns, json = opts.json, flush = true, duration = opts.duration, interval = opts.interval,
  banner = "Tracing TCP accepts... Hit Ctrl-C to end.", drop_format = "%s: %d events dropped",
  -- Accepts from fexit on inet_csk_accept where the kernel allows fentry,
  -- else from the accept syscalls' exit tracepoints.
  paths = tool.PATHS["tcplife.bpf.c"], attach_path = opts.attach_path,
  also_attach = tool.ALSO_ATTACH["tcplife.bpf.c"],
  on_event = on_event,
})

-- network collector against ground truth: workloads that send and receive
-- exactly known bytes over TCP (echoed back: both directions) and UDP, and a
-- listener whose full accept queue makes the kernel retransmit a SYN once.
local t = require "harness"
local c = require "ebpf_common"
local cc = require "collector_common"
local net = require "collector_net_common"
c.require_root()

local W = cc.workload

local function rows_of(lines, where) return cc.final_rows(lines, "network", where) end

t.test("TCP bytes and calls of both ends of a connection are exact", function()
  local port, lpid, spid = net.free_port(), net.pid_file(), net.pid_file()
  -- send writes 100000 bytes in 4 KiB writes (25 calls) and reads the echo.
  local lines, err = cc.run("network.lua", ("%s listen %d 1 >%s & %s send %d 100000 >%s; wait"):format(
    W, port, lpid, W, port, spid))
  local listener, sender = net.read_pid(lpid), net.read_pid(spid)
  local tx = rows_of(lines, { pid = sender, proto = "tcp", direction = "tx" })
  t.eq(#tx, 1, err)
  t.eq(tx[1].bytes, 100000)
  t.eq(tx[1].calls, 25)
  t.eq(tx[1].comm, "workload")
  t.eq(tx[1].retransmits, 0)
  local rx = rows_of(lines, { pid = sender, proto = "tcp", direction = "rx" })
  t.eq(#rx, 1)
  t.eq(rx[1].bytes, 100000)
  t.eq(rows_of(lines, { pid = listener, proto = "tcp", direction = "rx" })[1].bytes, 100000)
  t.eq(rows_of(lines, { pid = listener, proto = "tcp", direction = "tx" })[1].bytes, 100000)
end)

t.test("with -c, the peer outside the command never appears", function()
  local port, spid = net.free_port(), net.pid_file()
  local listener, wait = net.start_listener("listen", port, 1)
  local lines, err = cc.run("network.lua", ("%s send %d 5000 >%s"):format(W, port, spid))
  wait()
  local sender = net.read_pid(spid)
  local rows = rows_of(lines)
  t.ok(#rows > 0, err)
  for _, row in ipairs(rows) do
    t.ok(row.pid ~= listener, "the listener outside -c appeared: " .. row.direction)
    t.ok(row.comm == "workload" or row.comm == "sh", "unexpected process " .. tostring(row.comm))
  end
  t.eq(rows_of(lines, { pid = sender, proto = "tcp", direction = "tx" })[1].bytes, 5000)
  t.eq(rows_of(lines, { pid = sender, proto = "tcp", direction = "rx" })[1].bytes, 5000)
end)

t.test("UDP datagrams sent and received are counted exactly", function()
  local port, port2 = net.free_port(), net.free_port()
  -- udploop: 37 datagrams of 16 bytes to itself; udp: 11 more sent only.
  local lines, err = cc.run("network.lua", ("%s udploop %d 37 >/dev/null; %s udp %d 11 >/dev/null"):format(
    W, port, W, port2))
  local tx = rows_of(lines, { proto = "udp", direction = "tx" })
  t.eq(#tx, 2, err)
  table.sort(tx, function(a, b) return a.calls > b.calls end)
  t.eq({ tx[1].bytes, tx[1].calls, tx[2].bytes, tx[2].calls }, { 37 * 16, 37, 11 * 16, 11 })
  local rx = rows_of(lines, { proto = "udp", direction = "rx" })
  t.eq(#rx, 1)
  t.eq({ rx[1].bytes, rx[1].calls, rx[1].pid }, { 37 * 16, 37, tx[1].pid })
end)

t.test("--per-address splits by remote address and port (IPv4, IPv6, UDP)", function()
  local port, port6, uport = net.free_port(), net.free_port(), net.free_port()
  local spid, s6pid = net.pid_file(), net.pid_file()
  local lines, err = cc.run("network.lua", ("%s listen %d 1 >/dev/null & %s send %d 3000 >%s; "
    .. "%s listen6 %d 1 >/dev/null & %s send6 %d 777 >%s; %s udploop %d 5 >/dev/null; wait"):format(
    W, port, W, port, spid, W, port6, W, port6, s6pid, W, uport), "--per-address")
  local sender, sender6 = net.read_pid(spid), net.read_pid(s6pid)
  local v4 = rows_of(lines, { pid = sender, proto = "tcp", direction = "tx" })
  t.eq(#v4, 1, err)
  t.eq({ v4[1].remote, v4[1].bytes }, { "127.0.0.1:" .. port, 3000 })
  local v6 = rows_of(lines, { pid = sender6, proto = "tcp", direction = "tx" })
  t.eq(#v6, 1)
  t.eq({ v6[1].remote, v6[1].bytes }, { "[::1]:" .. port6, 777 })
  -- Unconnected UDP: the address comes from sendto() and recvfrom().
  local utx = rows_of(lines, { proto = "udp", direction = "tx" })
  t.eq(#utx, 1)
  t.eq({ utx[1].remote, utx[1].bytes, utx[1].calls }, { "127.0.0.1:" .. uport, 80, 5 })
  local urx = rows_of(lines, { proto = "udp", direction = "rx" })
  t.eq(#urx, 1)
  local from_port = tonumber(urx[1].remote:match("^127%.0%.0%.1:(%d+)$"))
  t.ok(from_port and from_port ~= uport and from_port > 0, urx[1].remote)
  t.eq({ urx[1].bytes, urx[1].calls }, { 80, 5 })
end)

t.test("a SYN dropped by a full listener is retransmitted exactly once in 1.5 s", function()
  -- The kernel's first SYN retransmission comes after 1 s, the second 2 s
  -- later: waiting 1.5 s leaves exactly one.
  local port, pid_file = net.free_port(), net.pid_file()
  local lines, err = cc.run("network.lua", ("%s backlog %d 1500 >%s"):format(W, port, pid_file))
  local pid = net.read_pid(pid_file)
  local rows = rows_of(lines, { pid = pid, proto = "tcp", direction = "tx" })
  t.eq(#rows, 1, err)
  t.eq(rows[1].retransmits, 1)
end)

-- The attach paths (stdlib/ebpf/collector.lua): the guests of tests/vm
-- (EBPFRUN_EXPECT_FENTRY=1) must take fexit on inet/inet6 sendmsg/recvmsg;
-- this host refuses fentry and takes the sock_send_length/sock_recv_length
-- tracepoints (Linux 6.3+), which --attach-path tracepoint forces where the
-- kernel has them. The counts are exact either way, and the path is named
-- by -v and --stats.
local expect_fentry = os.getenv("EBPFRUN_EXPECT_FENTRY") == "1"
local function tracefs_has(event)
  for _, root in ipairs({ "/sys/kernel/tracing", "/sys/kernel/debug/tracing" }) do
    local f = io.open(root .. "/events/" .. event .. "/id")
    if f then f:close(); return true end
  end
  return false
end
local has_length_tracepoints = tracefs_has("sock/sock_send_length")

-- The exact TCP echo under one path (nil: the default); returns the path
-- --stats names (with why the preferred ones failed), and stderr.
local function tcp_echo_under(path, extra)
  local port, spid = net.free_port(), net.pid_file()
  local lines, err, code = cc.run("network.lua", ("%s listen %d 1 >/dev/null & %s send %d 30000 >%s; wait"):format(
    W, port, W, port, spid), (path and ("--attach-path " .. path) or "") .. " " .. (extra or ""), "-v --stats")
  if code ~= 0 then return nil, err end
  local sender = net.read_pid(spid)
  local tx = rows_of(lines, { pid = sender, proto = "tcp", direction = "tx" })
  local rx = rows_of(lines, { pid = sender, proto = "tcp", direction = "rx" })
  t.eq(#tx, 1, err)
  t.eq({ tx[1].bytes, tx[1].calls, rx[1].bytes }, { 30000, 8, 30000 })
  local taken = err:match("attach paths:\n[^\n]*\nnetwork +([^\n]+)")
  t.ok(taken, err)
  t.ok(err:find("debug: network: attach path " .. (taken or "?"), 1, true), err)
  return taken, err
end

t.test("the attach path: fentry where the kernel allows it, else the tracepoints; exact on both", function()
  local taken, err = tcp_echo_under(nil)
  t.ok(taken, err)
  if expect_fentry then
    t.eq(taken, "fentry")
  elseif taken ~= "fentry" then
    -- Why fentry lost is said with the path taken.
    t.ok(taken:find("^tracepoint %(fentry: "), taken)
  end
end)

t.test("--attach-path tracepoint takes the tracepoints (or fails clearly where the kernel lacks them)", function()
  local taken, err = tcp_echo_under("tracepoint")
  if has_length_tracepoints then
    t.eq(taken, "tracepoint", err)
  else
    t.eq(taken, nil)
    t.ok(err:find("network disabled", 1, true) and err:find("sock_send_length", 1, true), err)
  end
end)

t.test("--attach-path fentry with --per-address: UDP addresses from the msghdr, or a clear refusal", function()
  local uport = net.free_port()
  local lines, err, code = cc.run("network.lua", ("%s udploop %d 5 >/dev/null"):format(W, uport),
    "--attach-path fentry --per-address", "--stats")
  if not expect_fentry and code ~= 0 then
    -- This host refuses fentry: the collector says so and nothing else runs.
    t.ok(err:find("network disabled", 1, true), err)
    return
  end
  t.eq(code, 0, err)
  t.ok(err:find("\nnetwork +fentry\n"), err)
  local utx = rows_of(lines, { proto = "udp", direction = "tx" })
  t.eq(#utx, 1, err)
  t.eq({ utx[1].remote, utx[1].bytes, utx[1].calls }, { "127.0.0.1:" .. uport, 80, 5 })
  local urx = rows_of(lines, { proto = "udp", direction = "rx" })
  t.eq(#urx, 1)
  t.ok(urx[1].remote:find("^127%.0%.0%.1:%d+$") and urx[1].remote ~= "127.0.0.1:" .. uport, urx[1].remote)
  t.eq({ urx[1].bytes, urx[1].calls }, { 80, 5 })
end)

t.test("a $EBPFRUN_ATTACH_PATH that names no path is one clear message and exit 2, nothing loaded", function()
  local _, err, code = cc.capture(("EBPFRUN_ATTACH_PATH=kprobe %s %s/scripts/network.lua --duration 0.1"):format(
    cc.ebpfrun, cc.source))
  t.eq(code, 2, err)
  t.ok(err:find("EBPFRUN_ATTACH_PATH must be one of auto, fentry, tracepoint; got 'kprobe'", 1, true), err)
  t.ok(not err:find("traceback", 1, true), err)
end)

t.test("--help describes the collector, --per-address and --attach-path", function()
  local text = cc.help("network.lua")
  t.ok(text:find("TCP and UDP bytes") and text:find("%-%-per%-address") and text:find("%-%-attach%-path"), text)
end)

t.done()

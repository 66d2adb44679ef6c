-- tcpconnect, tcpaccept and tcpclose against ground truth: K connects give K
-- connect lines with the workload's pid and the right ports, K accepted
-- connections K accept lines for the listener, and a connection that sent
-- exactly B bytes (echoed back) closes with B sent and B received, over IPv4
-- and IPv6. Processes outside -c / --pid never appear, even though on
-- loopback their sockets change state inside the traced process's calls.
local t = require "harness"
local c = require "ebpf_common"
local cc = require "collector_common"
local net = require "collector_net_common"
c.require_root()

local W, K = cc.workload, 5

local function pids_of(events)
  local pids = {}
  for _, e in ipairs(events) do pids[e.pid] = true end
  return pids
end

t.test("tcpconnect: K connects, with the workload's pid, addresses and ports", function()
  local port, pid_file = net.free_port(), net.pid_file()
  local listener, wait = net.start_listener("listen", port, K)
  local lines, err = cc.run("tcpconnect.lua", ("%s connect %d %d >%s"):format(W, port, K, pid_file))
  wait()
  local pid = net.read_pid(pid_file)
  local events = net.events(lines)
  t.eq(#events, K, err)
  local sports = {}
  for _, e in ipairs(events) do
    t.eq({ e.pid, e.comm, e.ip, e.saddr, e.daddr, e.dport, e.result }, { pid, "workload", 4, "127.0.0.1", "127.0.0.1", port, "ok" })
    t.ok(e.sport > 0 and not sports[e.sport], "source ports must be distinct")
    sports[e.sport] = true
    t.ok(e.latency_ns > 0 and e.latency_ns < 1e9, "latency " .. e.latency_ns)
    t.ok(e.time:find("^%d%d%d%d%-%d%d%-%d%dT"), e.time)
  end
  t.ok(not pids_of(events)[listener])
end)

t.test("tcpconnect: a refused connect is reported with its error", function()
  local port = net.free_port()
  local lines, err = cc.run("tcpconnect.lua", ("%s connect %d 1 >/dev/null"):format(W, port))
  local events = net.events(lines)
  t.eq(#events, 1, err)
  t.eq({ events[1].dport, events[1].result }, { port, "ECONNREFUSED" })
end)

t.test("tcpconnect: IPv6 to ::1", function()
  local port, pid_file = net.free_port(), net.pid_file()
  local _, wait = net.start_listener("listen6", port, 1)
  local lines, err = cc.run("tcpconnect.lua", ("%s send6 %d 0 >%s"):format(W, port, pid_file))
  wait()
  local events = net.events(lines)
  t.eq(#events, 1, err)
  t.eq({ events[1].pid, events[1].ip, events[1].saddr, events[1].daddr, events[1].dport, events[1].result },
       { net.read_pid(pid_file), 6, "::1", "::1", port, "ok" })
end)

t.test("tcpconnect -c: connects of a busy process outside the command never appear", function()
  local port, pid_file = net.free_port(), net.pid_file()
  local others = 150
  local listener, wait = net.start_listener("listen", port, others + K)
  -- Another process connects every 20 ms from before the trace starts until
  -- after it ends (checked below), so its connects overlap the traced ones.
  local busy = io.popen(("echo $$; for i in $(seq %d); do %s connect %d 1 >/dev/null; sleep 0.02; done"):format(
    others, W, port))
  local busy_pid = tonumber(busy:read("*l"))
  local lines, err = cc.run("tcpconnect.lua", ("sleep 0.2; %s connect %d %d >%s; sleep 0.2"):format(W, port, K, pid_file))
  local overlapped = io.open("/proc/" .. busy_pid .. "/stat") ~= nil
  busy:read("*a")
  busy:close()
  wait()
  t.ok(overlapped, "the other process stopped connecting before the trace ended; the test proves nothing")
  local pid = net.read_pid(pid_file)
  local events = net.events(lines)
  t.eq(#events, K, err)
  for _, e in ipairs(events) do t.eq(e.pid, pid) end
  t.ok(listener > 0)
end)

t.test("tcpaccept: K accepts on the listener's side", function()
  local port, lpid = net.free_port(), net.pid_file()
  -- send retries until the listener is up; then K - 1 plain connects.
  local lines, err = cc.run("tcpaccept.lua", ("%s listen %d %d >%s & %s send %d 10 >/dev/null; "
    .. "%s connect %d %d >/dev/null; wait"):format(W, port, K, lpid, W, port, W, port, K - 1))
  local listener = net.read_pid(lpid)
  local events = net.events(lines)
  t.eq(#events, K, err)
  local rports = {}
  for _, e in ipairs(events) do
    t.eq({ e.pid, e.comm, e.ip, e.laddr, e.lport, e.raddr }, { listener, "workload", 4, "127.0.0.1", port, "127.0.0.1" })
    t.ok(e.rport > 0 and not rports[e.rport], "remote ports must be distinct")
    rports[e.rport] = true
  end
end)

t.test("tcpaccept -c: a listener outside the command never appears", function()
  local port = net.free_port()
  local _, wait = net.start_listener("listen", port, K)
  local lines, err = cc.run("tcpaccept.lua", ("%s connect %d %d >/dev/null"):format(W, port, K))
  wait()
  t.eq(#net.events(lines), 0, err)
end)

t.test("tcpaccept --pid: only that listener's accepts, IPv6", function()
  local port, other_port, rounds = net.free_port(), net.free_port(), 2000
  local listener, wait = net.start_listener("listen6", port, rounds)
  local other, wait_other = net.start_listener("listen6", other_port, rounds)
  -- Both listeners accept throughout the trace (it cannot count them all),
  -- until it has ended: an emulated guest of the kernel matrix takes
  -- seconds to start the tracer. Then the listeners are stopped.
  local going = os.tmpname()
  local busy = io.popen(("i=0; while [ -e %s ] && [ $i -lt %d ]; do %s send6 %d 1 >/dev/null; "
    .. "%s send6 %d 1 >/dev/null; sleep 0.05; i=$((i + 1)); done"):format(going, rounds, W, port, W, other_port))
  local lines, err = net.run_plain("tcpaccept.lua", ("--pid %d --duration 1.5"):format(listener))
  os.remove(going)
  busy:read("*a")
  busy:close()
  os.execute(("kill %d %d 2>/dev/null"):format(listener, other))
  wait()
  wait_other()
  local events = net.events(lines)
  t.ok(#events > 5, "expected accepts while tracing, got " .. #events .. "; " .. err)
  for _, e in ipairs(events) do
    t.eq({ e.pid, e.ip, e.laddr, e.lport, e.raddr }, { listener, 6, "::1", port, "::1" })
  end
end)

t.test("tcpclose: B bytes each way, on both ends, with the owners' pids", function()
  local port, lpid, spid = net.free_port(), net.pid_file(), net.pid_file()
  local lines, err = cc.run("tcpclose.lua", ("%s listen %d 1 >%s & %s send %d 100000 >%s; wait"):format(
    W, port, lpid, W, port, spid))
  local listener, sender = net.read_pid(lpid), net.read_pid(spid)
  local client = net.events(lines, { pid = sender })
  t.eq(#client, 1, err)
  t.eq({ client[1].ip, client[1].rport, client[1].tx_bytes, client[1].rx_bytes }, { 4, port, 100000, 100000 })
  t.ok(client[1].duration_ns > 0 and client[1].duration_ns < 5e9)
  local server = net.events(lines, { pid = listener })
  t.eq(#server, 1)
  t.eq({ server[1].lport, server[1].rport, server[1].tx_bytes, server[1].rx_bytes },
       { port, client[1].lport, 100000, 100000 })
  t.eq(#net.events(lines), 2)
end)

t.test("tcpclose: IPv6, and the listener outside -c never appears", function()
  local port, spid = net.free_port(), net.pid_file()
  local listener, wait = net.start_listener("listen6", port, 1)
  -- The client's socket reaches CLOSE when the listener's FIN arrives: the
  -- command waits for the listener to exit so that the trace sees it.
  local lines, err = cc.run("tcpclose.lua", ("%s send6 %d 777 >%s; while kill -0 %d 2>/dev/null; do sleep 0.01; done"):format(
    W, port, spid, listener))
  wait()
  local events = net.events(lines)
  t.eq(#events, 1, err)
  t.eq({ events[1].pid, events[1].ip, events[1].laddr, events[1].raddr, events[1].rport, events[1].tx_bytes,
         events[1].rx_bytes }, { net.read_pid(spid), 6, "::1", "::1", port, 777, 777 })
end)

t.done()

-- tcpstate collector against ground truth: K connects give exactly K of each
-- transition of the active side, K accepted connections exactly K of the
-- passive side's, and a connection held open for 1.5 s spends that long in
-- ESTABLISHED. On loopback the peer's half of the handshake runs in softirq
-- context inside the connecting process: it must still be charged to the
-- socket's owner, and never to a process outside the filter.
local t = require "harness"
local c = require "ebpf_common"
local cc = require "collector_common"
local net = require "collector_net_common"
c.require_root()

local W, K = cc.workload, 7

local function rows_of(lines, where) return cc.final_rows(lines, "tcpstate", where) end

local function count(lines, pid, port, from, to)
  local rows = rows_of(lines, { pid = pid, port = port, from = from, to = to })
  t.ok(#rows <= 1, "several rows for one key")
  return rows[1] and rows[1].count or 0
end

t.test("K connects: K of each active-side transition, nothing of the peer outside -c", function()
  local port, pid_file = net.free_port(), net.pid_file()
  local listener, wait = net.start_listener("listen", port, K)
  local lines, err = cc.run("tcpstate.lua", ("%s connect %d %d >%s"):format(W, port, K, pid_file))
  wait()
  local pid = net.read_pid(pid_file)
  t.eq(count(lines, pid, port, "CLOSE", "SYN_SENT"), K, err)
  t.eq(count(lines, pid, port, "SYN_SENT", "ESTABLISHED"), K)
  t.eq(count(lines, pid, port, "ESTABLISHED", "FIN_WAIT1"), K)
  -- The listener's sockets change state inside the workload's system calls
  -- (softirq on loopback): none of that may show, under any pid.
  local active = { ["CLOSE>SYN_SENT"] = true, ["SYN_SENT>ESTABLISHED"] = true, ["ESTABLISHED>FIN_WAIT1"] = true,
                   ["FIN_WAIT1>FIN_WAIT2"] = true, ["FIN_WAIT2>CLOSE"] = true, ["FIN_WAIT1>CLOSING"] = true,
                   ["CLOSING>CLOSE"] = true }
  for _, row in ipairs(rows_of(lines)) do
    t.eq(row.pid, pid, "a row of another process: " .. row.from .. " -> " .. row.to)
    t.ok(active[row.from .. ">" .. row.to], "a transition of the listener's side: " .. row.from .. " -> " .. row.to)
    t.eq(row.port, port)
  end
  t.ok(listener > 0)
end)

t.test("K accepted connections: K of each passive-side transition for the listener", function()
  local port, lpid = net.free_port(), net.pid_file()
  -- send retries until the listener is up, then K - 1 plain connects.
  local lines, err = cc.run("tcpstate.lua", ("%s listen %d %d >%s & %s send %d 10 >/dev/null; "
    .. "%s connect %d %d >/dev/null; wait"):format(W, port, K, lpid, W, port, W, port, K - 1))
  local listener = net.read_pid(lpid)
  t.eq(count(lines, listener, port, "CLOSE", "LISTEN"), 1, err)
  t.eq(count(lines, listener, port, "LISTEN", "SYN_RECV"), K)
  t.eq(count(lines, listener, port, "SYN_RECV", "ESTABLISHED"), K)
  t.eq(count(lines, listener, port, "ESTABLISHED", "CLOSE_WAIT"), K)
  t.eq(count(lines, listener, port, "LAST_ACK", "CLOSE"), K)
  t.eq(count(lines, listener, port, "LISTEN", "CLOSE"), 1)
end)

-- A listener that predates the tracer is learnt from its first accept()
-- (glibc's accept is the accept syscall on x86-64: the program is attached
-- there as well as at accept4, scripts/tcpstate.lua's also_attach), so the
-- connections born after it are its own from their birth.
t.test("a listener older than the tracer owns the connections born after its first accept", function()
  local port = net.free_port()
  local listener, wait = net.start_listener("listen", port, K)
  os.execute(("(sleep 1.5; %s connect %d 1; sleep 0.5; %s connect %d %d) >/dev/null 2>&1 &"):format(
    W, port, W, port, K - 1))
  local lines, err = net.run_plain("tcpstate.lua", ("--pid %d --duration 3"):format(listener))
  wait()
  t.eq(count(lines, listener, port, "LISTEN", "SYN_RECV"), K - 1, err)
  t.eq(count(lines, listener, port, "LAST_ACK", "CLOSE"), K)
end)

t.test("time in a state: a connection held for 1.5 s, a SYN unanswered for 1.5 s", function()
  -- backlog: one connection established and held 1500 ms, a second connect
  -- whose SYNs a full listener drops, both closed after those 1500 ms.
  local port, pid_file = net.free_port(), net.pid_file()
  local lines, err = cc.run("tcpstate.lua", ("%s backlog %d 1500 >%s"):format(W, port, pid_file))
  local pid = net.read_pid(pid_file)
  local held = rows_of(lines, { pid = pid, port = port, from = "ESTABLISHED", to = "FIN_WAIT1" })
  t.eq(#held, 1, err)
  t.eq(held[1].count, 1)
  -- Bounds: the workload's usleep is the floor; 0.5 s covers a loaded machine.
  t.ok(held[1].seconds >= 1.5 and held[1].seconds < 2.0, "ESTABLISHED for " .. held[1].seconds .. " s")
  local unanswered = rows_of(lines, { pid = pid, port = port, from = "SYN_SENT", to = "CLOSE" })
  t.eq(#unanswered, 1)
  t.ok(unanswered[1].seconds >= 1.5 and unanswered[1].seconds < 2.0, "SYN_SENT for " .. unanswered[1].seconds .. " s")
  -- The listener is the workload's own: its transitions are the workload's too.
  t.eq(count(lines, pid, port, "CLOSE", "LISTEN"), 1)
end)

t.test("--help describes the collector", function()
  local text = cc.help("tcpstate.lua")
  t.ok(text:find("TCP state transitions"), text)
end)

t.done()

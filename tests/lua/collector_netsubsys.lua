-- netsubsys against ground truth: datagrams to a port nobody listens on are
-- dropped one by one with the kernel's reason, a connect to a closed port is
-- answered by a reset, and a SYN to a full accept queue is retransmitted.
-- Each must be reported exactly, for the workload's process only.
local t = require "harness"
local c = require "ebpf_common"
local cc = require "collector_common"
c.require_root()

math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)"), 16) % 100000)
-- Ports in a range no service here uses; a different one per run.
local function port() return 41000 + math.random(0, 9000) end

-- Runs netsubsys with -c COMMAND; the command's workload writes its pid to a
-- file. Returns the events, the final line, the workload pids, and stderr.
local function run(command, args)
  local pidfile = os.tmpname()
  local lines, err = cc.run("netsubsys.lua", command:gsub("WORKLOAD", cc.workload .. " >>" .. pidfile), args)
  local pids = {}
  local f = io.open(pidfile)
  for line in f:lines() do pids[#pids + 1] = tonumber(line) end
  f:close()
  os.remove(pidfile)
  local events, final = {}, nil
  for _, l in ipairs(lines) do
    if l.final then final = l elseif l.event then events[#events + 1] = l end
  end
  return events, final, pids, err
end

-- Before Linux 6.10 (6.1) tcp_send_reset fired only for resets of a
-- socket, not for the reply to a packet nobody's socket takes; 6.10 gave it
-- a record of its own, which is how a kernel that reports those is known.
local ebpf = require "ebpf"
local RESETS_WITHOUT_SOCKET = ebpf.struct_members("struct trace_event_raw_tcp_send_reset") ~= nil
local SOCKETLESS_RESETS = RESETS_WITHOUT_SOCKET and 1 or 0

local function select(events, where)
  local out = {}
  for _, e in ipairs(events) do
    local match = true
    for k, v in pairs(where) do if e[k] ~= v then match = false end end
    if match then out[#out + 1] = e end
  end
  return out
end

t.test("each datagram to a closed UDP port is a drop with reason NO_SOCKET", function()
  local p = port()
  local events, final, pids, err = run(("WORKLOAD udp %d 7"):format(p))
  local drops = select(events, { event = "drop", protocol = "UDP", dport = p })
  t.eq(#drops, 7, err)
  for _, d in ipairs(drops) do
    t.eq(d.reason, "NO_SOCKET")
    t.eq(d.pid, pids[1])
    t.eq(d.comm, "workload")
    t.eq(d.saddr, "127.0.0.1")
    t.eq(d.daddr, "127.0.0.1")
    t.eq(d.family, "inet")
  end
  t.eq(final.drop_reasons.NO_SOCKET, 7)
  t.eq(final.totals.drop, 7)
  t.eq(final.lost, 0)
end)

t.test("a connect to a closed TCP port: one reset sent, one received", function()
  local p = port()
  local events, _, pids, err = run(("WORKLOAD connect %d 1"):format(p))
  local sent = select(events, { event = "reset_sent", sport = p })
  t.eq(#sent, SOCKETLESS_RESETS, err)
  if RESETS_WITHOUT_SOCKET then
    t.eq(sent[1].reason, "NO_SOCKET")
    t.eq(sent[1].pid, pids[1])
  end
  local received = select(events, { event = "reset_received", dport = p })
  t.eq(#received, 1, err)
  t.eq(received[1].state, "SYN_SENT")
  t.eq(received[1].by, "socket")
  t.eq(received[1].pid, pids[1])
  -- The reset goes to the port the connect came from.
  if RESETS_WITHOUT_SOCKET then t.eq(sent[1].dport, received[1].sport) end
  -- The SYN itself was dropped, for want of a socket.
  local syn = select(events, { event = "drop", protocol = "TCP", dport = p })
  t.eq(#syn, 1, err)
  t.eq(syn[1].reason, "NO_SOCKET")
end)

t.test("a SYN dropped by a full accept queue is retransmitted once in 1.5 s", function()
  local p = port()
  local events, _, pids, err = run(("WORKLOAD backlog %d 1500"):format(p))
  local retransmits = select(events, { event = "retransmit", dport = p })
  -- The first SYN retransmit comes after the initial 1 s timeout, the second
  -- 2 s later.
  t.eq(#retransmits, 1, err)
  t.eq(retransmits[1].state, "SYN_SENT")
  t.eq(retransmits[1].err, 0)
  -- It fires from a timer, on whatever task: given to the socket's owner.
  t.eq(retransmits[1].by, "socket")
  t.eq(retransmits[1].pid, pids[1])
end)

t.test("with -c, other processes' drops never appear; --events narrows", function()
  local p = port()
  -- Another process floods the same closed port all along, outside -c.
  local stop = os.tmpname()
  os.execute(("(while [ -e %s ]; do %s udp %d 20; done) >/dev/null 2>&1 &"):format(stop, cc.workload, p))
  local events, _, pids, err = run(("sleep 0.3; WORKLOAD udp %d 4; sleep 0.3"):format(p))
  os.remove(stop)
  local drops = select(events, { event = "drop", dport = p })
  t.eq(#drops, 4, err)
  for _, e in ipairs(events) do
    t.eq(e.pid, pids[1], "an event of another process: " .. e.comm .. " " .. e.pid)
  end
  events = run(("WORKLOAD udp %d 2; WORKLOAD connect %d 1"):format(p, p + 1), "--events reset")
  t.eq(#select(events, { event = "drop" }), 0)
  t.eq(#select(events, { event = "reset_sent", sport = p + 1 }), SOCKETLESS_RESETS)
  t.eq(#select(events, { event = "reset_received", dport = p + 1 }), 1)
end)

t.test("reason names come from the running kernel's BTF, not the object's", function()
  local ebpf = require "ebpf"
  local values = assert(ebpf.kernel_enum_values("enum skb_drop_reason"))
  local by_name = {}
  for _, v in ipairs(values) do by_name[v.name] = v.value end
  -- The values the kernel's own tracepoint format prints for these names.
  local f = io.open("/sys/kernel/tracing/events/skb/kfree_skb/format")
  local fmt = f:read("*a")
  f:close()
  local n = tonumber(fmt:match('{ (%d+), "NO_SOCKET" }'))
  t.ok(n, fmt)
  t.eq(by_name.SKB_DROP_REASON_NO_SOCKET, n)
  t.eq(values[1].name, "SKB_NOT_DROPPED_YET")
  local missing, err = ebpf.kernel_enum_values("enum no_such_enum")
  t.eq(missing, nil)
  t.eq(err.kind, "not_found")
  -- An object's BTF has the enum as the kernel it was compiled against
  -- numbers it (EBPFRUN_BTF in the kernel matrix: another kernel's).
  local obj = assert(ebpf.compile { text = [[
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
struct holder { enum skb_drop_reason r; };
char LICENSE[] SEC("license") = "GPL";
]] })
  t.ok(#assert(obj:enum_values("enum skb_drop_reason")) > 0)
  local none, oerr = obj:enum_values("enum no_such_enum")
  t.eq(none, nil)
  t.ok(oerr:find("no type"), oerr)
  obj:close()
end)

t.test("--help describes the tool", function()
  local text = cc.help("netsubsys.lua")
  t.ok(text:find("drop reason"), text)
  t.ok(text:find("%-%-events") and text:find("%-%-json"), text)
end)

t.done()

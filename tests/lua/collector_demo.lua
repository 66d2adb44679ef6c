-- The main job (./setup.sh demo): the six collectors over
-- scripts/demo/workload.sh, started with -c. Every collector must show
-- something of the workload (an empty table is a demo that shows nothing),
-- and ebpfrun itself must never appear.
local t = require "harness"
local c = require "ebpf_common"
local cc = require "collector_common"
c.require_root()

local lines, err, code = cc.run(cc.source .. "/scripts/collectors.lua", cc.source .. "/scripts/demo/workload.sh",
  "--interval 60")

local function rows_of(collector, keep)
  local out = {}
  for _, row in ipairs(cc.final_rows(lines, collector)) do
    if not keep or keep(row) then out[#out + 1] = row end
  end
  return out
end

t.test("the demo runs to the end", function() t.eq(code, 0, err) end)

t.test("every collector shows the workload's processes, ebpfrun never", function()
  for _, name in ipairs({ "syscalls", "network", "fileio", "scheduler", "memory", "tcpstate" }) do
    local rows = rows_of(name, function(r) return r.comm end)
    t.ok(#rows > 0, name .. " shows nothing; stderr: " .. err)
    for _, row in ipairs(rows) do t.ok(row.comm ~= "ebpfrun", name .. ": " .. cc.describe(row)) end
  end
end)

t.test("the HTTP transfers are there: 8 x 2 MiB over TCP, each connection's transitions", function()
  local received = 0
  for _, row in ipairs(rows_of("network", function(r) return r.proto == "tcp" and r.direction == "rx" end)) do
    received = received + row.bytes
  end
  t.ok(received >= 8 * 2097152, "TCP bytes received: " .. received)
  local established = 0
  for _, row in ipairs(rows_of("tcpstate", function(r) return r.from == "SYN_SENT" and r.to == "ESTABLISHED" end)) do
    established = established + row.count
  end
  t.eq(established, 8)
end)

t.test("the scheduler's histogram is there", function()
  t.eq(#rows_of("scheduler", function(r) return r.hist end), 1)
end)

t.done()

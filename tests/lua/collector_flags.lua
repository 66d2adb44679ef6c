-- Every shipped script accepts the standard flags (issue: --pid --tid --comm
-- --uid --cgroup --json --interval --duration --help), and an event-stream
-- tool's --interval prints a status line with its event and drop counts.
local t = require "harness"
local c = require "ebpf_common"
local cc = require "collector_common"
c.require_root()

local STANDARD = { "--pid", "--tid", "--comm", "--uid", "--cgroup", "--json", "--interval", "--duration", "--help" }

local p = io.popen("ls " .. cc.source .. "/scripts/*.lua")
local scripts = {}
for path in p:lines() do scripts[#scripts + 1] = path end
p:close()

for _, script in ipairs(scripts) do
  t.test(script:match("[^/]+$") .. " accepts the standard flags", function()
    local h = io.popen(cc.ebpfrun .. " " .. script .. " --help 2>&1")
    local text = h:read("*a")
    h:close()
    for _, flag in ipairs(STANDARD) do t.ok(text:find(flag, 1, true), flag .. " missing from:\n" .. text) end
  end)
end

t.test("an event-stream tool's --interval reports events and drops on stderr", function()
  local h = io.popen(("%s -c %q %s/scripts/execsnoop.lua --interval 0.3 2>&1 >/dev/null"):format(cc.ebpfrun,
    "sh -c 'sleep 0.5; /bin/true; sleep 0.5'", cc.source))
  local err = h:read("*a")
  h:close()
  t.ok(err:find("execsnoop: %d+ events, 0 dropped"), err)
end)

t.done()

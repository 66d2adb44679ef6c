-- syscalls collector against ground truth: a workload makes exactly N openat
-- calls; the collector must report N openat for it, and nothing for others.
local t = require "harness"
local c = require "ebpf_common"
local cc = require "collector_common"
c.require_root()

t.test("exactly N openat calls of the workload are counted", function()
  local lines, err = cc.run("syscalls.lua", cc.workload .. " openat 137 /etc/hostname")
  local rows = cc.final_rows(lines, "syscalls", { comm = "workload", syscall = "openat" })
  t.eq(#rows, 1, err)
  t.eq(rows[1].count, 137)
  t.eq(rows[1].errors, 0)
  t.ok(rows[1].seconds > 0)
end)

t.test("failing calls are counted as errors", function()
  local lines, err = cc.run("syscalls.lua", cc.workload .. " openat 25 /nonexistent/file")
  local rows = cc.final_rows(lines, "syscalls", { comm = "workload", syscall = "openat" })
  t.eq(#rows, 1, err)
  t.eq(rows[1].count, 25)
  t.eq(rows[1].errors, 25)
end)

t.test("--count-only counts exactly N calls and N errors, with no time", function()
  local lines, err = cc.run("syscalls.lua", cc.workload .. " openat 41 /nonexistent/file", "--count-only")
  local rows = cc.final_rows(lines, "syscalls", { comm = "workload", syscall = "openat" })
  t.eq(#rows, 1, err)
  t.eq(rows[1].count, 41)
  t.eq(rows[1].errors, 41)
  t.eq(rows[1].seconds, nil)
end)

t.test("with -c, other processes never appear", function()
  local lines = cc.run("syscalls.lua", cc.workload .. " openat 10 /etc/hostname")
  for _, row in ipairs(cc.final_rows(lines, "syscalls")) do
    t.ok(row.comm == "workload" or row.comm == "sh", "unexpected process " .. tostring(row.comm))
  end
end)

t.test("--help describes the script and its flags", function()
  local text = cc.help("syscalls.lua")
  t.ok(text:find("System calls per process"), text)
  t.ok(text:find("%-%-pid") and text:find("%-%-json") and text:find("%-%-interval"), text)
end)

t.done()

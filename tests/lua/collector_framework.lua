-- The collector framework: several collectors in one run, switched by name;
-- one that cannot load is disabled with a one-line reason and the others run.
local t = require "harness"
local c = require "ebpf_common"
local cc = require "collector_common"
c.require_root()

local script = os.tmpname() .. ".lua"
local f = assert(io.open(script, "w"))
f:write(([[
local collector = require "ebpf.collector"
EBPFRUN_COLLECTOR_LIBRARY = true
local syscalls = dofile(%q)
EBPFRUN_COLLECTOR_LIBRARY = nil
local broken = { name = "broken", description = "attaches to a tracepoint that does not exist",
  text = [=[
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
SEC("tracepoint/nonexistent/no_such_event") int broken_prog(void *ctx) { /*FILTER*/ return 0; }
char LICENSE[] SEC("license") = "GPL";
]=], collect = function() return {} end }
collector.main_many({ broken, syscalls }, arg, "framework-test", "test")
]]):format(cc.source .. "/scripts/syscalls.lua"))
f:close()

local function run(args)
  return cc.run(script, cc.workload .. " openat 9 /etc/hostname", args)
end

t.test("a collector that cannot load is disabled with one line, the others run", function()
  local lines, err, code = run()
  t.eq(code, 0, err)
  local disabled = err:match("ebpfrun: broken disabled: ([^\n]*)")
  t.ok(disabled and disabled:find("nonexistent"), err)
  -- The reason comes from the error's kind (not_found), not from its text.
  t.ok(disabled:find("[a probe point or file it needs is missing]", 1, true), disabled)
  local rows = cc.final_rows(lines, "syscalls", { comm = "workload", syscall = "openat" })
  t.eq(#rows, 1)
  t.eq(rows[1].count, 9)
end)

t.test("--disable switches a collector off by name; none left is an error", function()
  local lines, err, code = run("--disable syscalls")
  t.eq(#cc.final_rows(lines, "syscalls"), 0)
  t.eq(code, 1, err)
end)

t.test("--enable runs only the named collectors", function()
  local lines, err = run("--enable syscalls")
  t.ok(not err:find("broken disabled"), err)
  t.eq(#cc.final_rows(lines, "syscalls", { comm = "workload", syscall = "openat" }), 1)
end)

os.remove(script)
t.done()

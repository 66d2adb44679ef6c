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

-- A collector whose (non-LRU) map holds 4 processes, over 300: its failed
-- inserts are counted on the BPF side, reported once on stderr although
-- several intervals pass, and in the JSON maps row.
local tiny = os.tmpname() .. ".lua"
f = assert(io.open(tiny, "w"))
f:write([[
local collector = require "ebpf.collector"
collector.main({ name = "tiny", description = "a map too small", text = [=[
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "ebpfrun_maps.h"
EBPFRUN_COUNTED_MAP(per_pid, BPF_MAP_TYPE_HASH, __u32, __u64, 4);
SEC("tracepoint/sched/sched_process_exit") int tiny_exit(void *ctx) {
  /*FILTER*/
  __u32 pid = bpf_get_current_pid_tgid() >> 32;
  __u64 one = 1;
  EBPFRUN_INSERT(per_pid, &pid, &one, BPF_NOEXIST);
  return 0;
}
char LICENSE[] SEC("license") = "GPL";
]=], collect = function() return {} end }, arg)
]])
f:close()

t.test("a full map is counted on the BPF side and reported once", function()
  local lines, err, code = cc.run(tiny, cc.workload .. " churn 300 && sleep 1.2 && " .. cc.workload .. " churn 10",
    "--interval 0.3")
  t.eq(code, 0, err)
  local _, reports = err:gsub("ebpfrun: tiny: map per_pid is full %(4 of 4 entries%): %d+ inserts failed, so what they stood for was not counted", "")
  t.eq(reports, 1, err)
  local final
  for _, row in ipairs(lines) do
    if row.final and row.maps then final = row.maps[1] end
  end
  t.ok(final, "a final maps row")
  if final then
    t.eq(final.map, "per_pid")
    t.eq(final.entries, 4)
    t.eq(final.max_entries, 4)
    t.eq(final.inserted, 4)
    t.ok(final.failed_inserts >= 300 - 4 + 10, "failed inserts: " .. final.failed_inserts)
    t.eq(final.evicted, 0)
  end
end)

t.test("--stats prints every map's fill at the end", function()
  local _, err = cc.run(tiny, cc.workload .. " churn 10", "", "--stats")
  t.ok(err:find("maps:\n"), err)
  t.ok(err:find("tiny%s+per_pid%s+hash%s+4%s+4%s+4%s+%d+%s+0"), err)
end)

t.test("ebpfrun's own process is left out unless --include-self", function()
  -- Without -c, nothing but the filter keeps ebpfrun out; the map fills with
  -- the processes that exit while it runs, so look at ebpfrun's pid only.
  local own = os.tmpname() .. ".lua"
  local g = assert(io.open(own, "w"))
  g:write([[
local collector = require "ebpf.collector"
local ffi = require "ffi"
ffi.cdef "int getpid(void);"
collector.main({ name = "self", description = "counts its own syscalls", text = [=[
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "ebpfrun_maps.h"
EBPFRUN_COUNTED_MAP(calls, BPF_MAP_TYPE_LRU_HASH, __u32, __u64, 1024);
SEC("tracepoint/raw_syscalls/sys_enter") int self_enter(void *ctx) {
  /*FILTER*/
  __u32 pid = bpf_get_current_pid_tgid() >> 32;
  __u64 zero = 0;
  __u64 *n = EBPFRUN_LOOKUP_OR_INSERT(calls, &pid, &zero);
  if (n) __sync_fetch_and_add(n, 1);
  return 0;
}
char LICENSE[] SEC("license") = "GPL";
]=], collect = function(state)
  local me = ffi.C.getpid()
  local n = state.obj:map("calls"):lookup(me)
  return { { pid = me, calls = n or 0 } }
end }, arg)
]])
  g:close()
  local function own_calls(args)
    local p = io.popen(("%s %s --json --duration 0.5 %s 2>&1"):format(cc.ebpfrun, own, args))
    local calls
    for line in p:lines() do
      local n = line:match('"calls":(%d+)')
      if n and line:find('"final"') then calls = tonumber(n) end
    end
    p:close()
    return calls
  end
  t.eq(own_calls(""), 0)
  local included = own_calls("--include-self")
  t.ok(included and included > 0, "with --include-self: " .. tostring(included))
  os.remove(own)
end)

os.remove(tiny)
os.remove(script)
t.done()

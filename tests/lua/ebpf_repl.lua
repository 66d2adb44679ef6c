-- Tests for the REPL commands that list and detach real BPF objects
-- (ebpf.repl's :probes, :maps and :detach), on the real kernel. The parts of
-- ebpf.repl that need no kernel are tested in test_repl.lua; the terminal
-- itself in tests/repl/test_repl.sh.
local t = require "harness"
local c = require "ebpf_common"
c.require_root()
local ebpf = require "ebpf"
local repl = require "ebpf.repl"

local function printed(fn)
  local lines, saved = {}, print
  print = function(...)
    local parts = {}
    for i = 1, select("#", ...) do parts[i] = tostring((select(i, ...))) end
    lines[#lines + 1] = table.concat(parts, "\t")
  end
  local ok, err = pcall(fn)
  print = saved
  if not ok then error(err, 0) end
  return table.concat(lines, "\n")
end

t.test("with nothing open, :probes and :maps say so", function()
  ebpf.close_all()
  t.eq(printed(function() repl.command("probes") end), "nothing attached")
  t.eq(printed(function() repl.command("maps") end), "no maps")
end)

t.test(":probes lists each attached link, :maps each map, :detach unloads everything", function()
  local obj = assert(ebpf.compile { text = [[
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 32); __type(key, __u32); __type(value, __u64); } repl_counts SEC(".maps");
SEC("tracepoint/syscalls/sys_enter_getppid")
int repl_test_prog(void *ctx) { return 0; }
char LICENSE[] SEC("license") = "GPL";
]] })
  local links = assert(obj:attach_all())
  t.eq(#links, 1)
  local id = links[1]:info().id
  t.ok(id > 0, "the link has a kernel id")
  local probes = printed(function() repl.command("probes") end)
  t.ok(probes:find("^tracepoint/syscalls/sys_enter_getppid%s+link id " .. id .. "%s+%(object "), probes)
  local maps = printed(function() repl.command("maps") end)
  t.ok(maps:find("^repl_counts%s+hash%s+max 32 entries %(object "), maps)
  t.ok(c.kernel_has_program("repl_test_prog"), "loaded before :detach")
  t.eq(printed(function() repl.command("detach") end), "detached and unloaded everything")
  t.ok(not c.kernel_has_program("repl_test_prog"), "unloaded by :detach")
  t.eq(printed(function() repl.command("probes") end), "nothing attached")
end)

t.done()

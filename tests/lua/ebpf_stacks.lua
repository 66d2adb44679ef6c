-- Stacks from BPF, symbolized in the host: the raw syscall entry tracepoint
-- takes kernel and user stack ids (bpf_get_stackid) of this process's openat
-- calls (the raw one: Linux 6.1 runs syscalls/sys_enter_* programs with the
-- user-mode registers of the syscall, so they get no kernel stack there),
-- each in a map of its own (in one small map the two can hash to one bucket,
-- and the user stack then replaces the kernel one);
-- obj:stack() names the syscall path in the kernel stack and libc's open in
-- the user stack; ebpf.symbolize() takes numbers, uint64_t cdata and hex
-- strings, and frames print one per line.
local t = require "harness"
local c = require "ebpf_common"
local ebpf = require "ebpf"
local ffi = require "ffi"
c.require_root()

local obj = assert(ebpf.compile { text = [[
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "ebpfrun_stacks.h"
EBPFRUN_STACK_MAP(stacks_lua_map, 64);
EBPFRUN_STACK_MAP(stacks_lua_umap, 64);
struct ids { __s64 kernel; __s64 user; };
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, __u32); __type(value, struct ids); } stacks_lua_ids SEC(".maps");
const volatile __u32 target_tgid = 0;
SEC("raw_tp/sys_enter")
int stacks_lua(struct bpf_raw_tracepoint_args *ctx) {
  if ((bpf_get_current_pid_tgid() >> 32) != target_tgid || ctx->args[1] != 257 /* x86-64 openat */) return 0;
  __u32 zero = 0;
  struct ids *ids = bpf_map_lookup_elem(&stacks_lua_ids, &zero);
  if (!ids) return 0;
  ids->kernel = EBPFRUN_KSTACK(ctx, stacks_lua_map);
  ids->user = EBPFRUN_USTACK(ctx, stacks_lua_umap);
  return 0;
}
char LICENSE[] SEC("license") = "GPL";
]], globals = { target_tgid = c.pid() } })

local function names(frames)
  local list = {}
  for _, f in ipairs(frames) do list[#list + 1] = f.symbol end
  return table.concat(list, " ")
end

t.test("kernel and user stacks of an openat name the syscall path and libc's open", function()
  assert(obj:attach_all())
  local f = assert(io.open("/etc/hostname"))
  f:close()
  local ids = assert(obj:map("stacks_lua_ids")):lookup(0)
  t.ok(ids.kernel >= 0, "kernel stack id " .. tostring(ids.kernel))
  t.ok(ids.user >= 0, "user stack id " .. tostring(ids.user))
  local kernel = assert(obj:stack("stacks_lua_map", tonumber(ids.kernel)))
  -- A raw tracepoint's stack starts in the tracing machinery (the BPF
  -- program, bpf_trace_run*), which the one-liners leave out the same way.
  local tracing_frame = require("ebpf.stackreport").tracing_frame
  while kernel[1] and tracing_frame(kernel[1].symbol) do table.remove(kernel, 1) end
  local knames = names(kernel)
  -- The syscall entry tracepoint fires before the dispatch to
  -- __x64_sys_openat (kprobes and fentry are not available on every kernel),
  -- so the stack is the entry path.
  t.ok(knames:find("do_syscall_64", 1, true), knames)
  t.ok(knames:find("entry_SYSCALL_64", 1, true), knames)
  t.eq(kernel[1].module, "kernel")
  t.ok(tostring(kernel):find("#0 0xffff", 1, true), tostring(kernel))
  local user = assert(obj:stack(obj:map("stacks_lua_umap"), tonumber(ids.user), c.pid()))
  t.ok(user[1].symbol:find("open"), names(user))
  t.ok(user[1].module:find("libc", 1, true), user[1].module)
end)

t.test("ebpf.symbolize takes numbers, cdata and hex strings", function()
  local kernel = assert(obj:stack("stacks_lua_map", tonumber(obj:map("stacks_lua_ids"):lookup(0).kernel)))
  local addr = kernel[1].addr
  local frames = assert(ebpf.symbolize({ addr, ffi.new("uint64_t", tonumber(addr)) }))
  t.eq(frames[1].symbol, kernel[1].symbol)
  t.eq(#frames, 2)
  local unknown = ebpf.symbolize({ 16 }, c.pid())
  t.eq(unknown[1].symbol, "[unknown]")
  t.raises(function() ebpf.symbolize({ {} }) end, "bad address #1")
  t.raises(function() ebpf.symbolize({ 1 }, 0) end, "pid must be a positive")
  -- An id past the map's buckets: any id inside may hold a stack of some
  -- event (ids are hash buckets), so only one outside is surely absent.
  local ok, err = obj:stack("stacks_lua_map", 100000)
  t.eq(ok, nil)
  t.eq(err.kind, "not_found")
  t.raises(function() obj:stack("stacks_lua_ids", 0) end, "not a stack%-trace map")
end)

obj:close()
t.done()

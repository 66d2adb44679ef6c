-- Errors as a user meets them: compile errors in inline C point at the Lua
-- line; a Lua error in a handler is reported with a traceback, everything is
-- detached, and the run exits non-zero. Every `nil, err` failure carries
-- err.kind (and err.errno, err.log) while still working as its message string.
local t = require "harness"
local c = require "ebpf_common"
local ebpf = require "ebpf"
c.require_root()

t.test("a compile error in inline C points at the Lua file and line", function()
  local here = debug.getinfo(1, "Sl")
  local obj, err = ebpf.compile { text = [[
int f(void)
{
    return not_declared;
}
]] }
  t.eq(obj, nil)
  -- The C starts on the line after `text = [[`, two lines below `here`;
  -- `return not_declared` is its third line.
  local expected = ("%s:%d:12: error: use of undeclared identifier 'not_declared'"):format(here.short_src, here.currentline + 4)
  t.ok(err:find(expected, 1, true), "expected " .. expected .. " in:\n" .. err)
  t.eq(err.kind, "compile")
end)

-- The C of a program the verifier rejects (a map value used without a NULL check).
local REJECTED = [[
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 4); __type(key, __u32); __type(value, __u64); } m SEC(".maps");
SEC("tracepoint/syscalls/sys_enter_getppid")
int rejected_kind(void *ctx)
{
    __u32 k = 0;
    __u64 *v = bpf_map_lookup_elem(&m, &k);
    return *v == 1;
}
char LICENSE[] SEC("license") = "GPL";
]]

t.test("an error object works as its message string wherever a string is used", function()
  local obj, err = ebpf.compile { text = "int f(void) { return not_declared; }" }
  t.eq(obj, nil)
  local text = tostring(err)
  t.eq(type(text), "string")
  t.ok(text:find("not_declared", 1, true), text)
  t.eq(err.message, text)
  t.eq("<" .. err .. ">", "<" .. text .. ">")
  t.eq(("%s"):format(err), text)
  t.eq(err:match("undeclared identifier '(%w+_%w+)'"), "not_declared")
  t.ok(err:find("error:", 1, true))
  t.eq(err:sub(1, 5), text:sub(1, 5))
  t.eq(err:upper(), text:upper())
  t.eq(select("#", err:gsub("not_declared", "x")), 2)
  -- Raised with assert(), it reaches pcall as the object, still with its kind.
  local ok, raised = pcall(function() assert(ebpf.compile { text = "int f(void) { return nope; }" }) end)
  t.eq(ok, false)
  t.eq(raised.kind, "compile")
  t.ok(tostring(raised):find("nope", 1, true))
end)

t.test("a verifier rejection has kind verifier, errno and the whole verifier log", function()
  local obj, err = ebpf.compile { text = REJECTED }
  t.eq(obj, nil)
  t.eq(err.kind, "verifier")
  t.eq(err.errno, 13) -- EACCES, what the kernel answers for a rejected program
  t.eq(type(err.log), "string")
  -- The whole log from the first instruction on, not only the message's summary.
  t.ok(err.log:find("\n0: R1=ctx", 1, true) or err.log:find("^0: R1=ctx"), err.log:sub(1, 300))
  t.ok(err.log:find("invalid mem access 'map_value_or_null'", 1, true), err.log)
  t.ok(#err.log > #err:match("verifier log %(last lines%):\n(.*)$"), "log longer than the summary")
end)

t.test("an unknown tracepoint is not_found; a missing map is not_found", function()
  local obj = assert(ebpf.compile { text = [[
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
SEC("tracepoint/syscalls/sys_enter_getppid")
int kinds_tp(void *ctx) { return 0; }
char LICENSE[] SEC("license") = "GPL";
]] })
  local link, err = obj:attach("kinds_tp", "tracepoint/syscalls/sys_enter_no_such_call")
  t.eq(link, nil)
  t.eq(err.kind, "not_found")
  t.ok(err:find("does not exist", 1, true), err)
  local map, merr = obj:map("no_such_map")
  t.eq(map, nil)
  t.eq(merr.kind, "not_found")
  obj:close()
end)

t.test("a kprobe is not_supported on a kernel without kprobes, else not_found for a missing function", function()
  local obj = assert(ebpf.compile { text = [[
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
SEC("kprobe/do_nanosleep")
int kinds_kprobe(void *ctx) { return 0; }
char LICENSE[] SEC("license") = "GPL";
]] })
  local f = io.open("/sys/bus/event_source/devices/kprobe/type")
  local has_kprobes = f ~= nil
  if f then f:close() end
  local link, err = obj:attach("kinds_kprobe", "kprobe/ebpfrun_no_such_function")
  t.eq(link, nil)
  t.eq(err.kind, has_kprobes and "not_found" or "not_supported", tostring(err))
  obj:close()
end)

t.test("a load without the privilege it needs has kind permission (setpriv: CAP_BPF and CAP_PERFMON only)", function()
  -- An XDP program needs CAP_NET_ADMIN on top of CAP_BPF; the run's
  -- preflight only asks for CAP_BPF and CAP_PERFMON, so the script starts.
  local rc, out, err = c.run_script([==[
local ebpf = require "ebpf"
local obj, err = ebpf.compile { text = [=[
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
SEC("xdp")
int kinds_xdp(struct xdp_md *ctx) { return 2; }
char LICENSE[] SEC("license") = "GPL";
]=] }
print(obj, err and err.kind, err and err.errno)
print(err)
]==], nil, "setpriv --bounding-set=-all,+bpf,+perfmon --inh-caps=-all")
  t.eq(rc, 0, err)
  t.ok(out:find("^nil\tpermission\t1\n"), out .. err)
  t.ok(out:find("loading BPF object", 1, true), out)
end)

t.test("a verifier rejection quotes the Lua line of the C", function()
  local obj, err = ebpf.compile { text = [[
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 4); __type(key, __u32); __type(value, __u64); } m SEC(".maps");
SEC("tracepoint/syscalls/sys_enter_getppid")
int rejected_lua(void *ctx)
{
    __u32 k = 0;
    __u64 *v = bpf_map_lookup_elem(&m, &k);
    return *v == 1;
}
char LICENSE[] SEC("license") = "GPL";
]] }
  t.eq(obj, nil)
  t.ok(err:find("the verifier rejected program 'rejected_lua'", 1, true), err)
  t.ok(err:find("return *v == 1; @ ebpf_errors.lua:", 1, true), err)
end)

t.test("a handler error: traceback, everything detached, exit non-zero", function()
  local rc, out, err = c.run_script([==[
local ebpf = require "ebpf"
local obj = assert(ebpf.compile { text = [=[
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
struct event { __u32 pid; };
struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 1 << 16); } events SEC(".maps");
SEC("tracepoint/syscalls/sys_enter_getppid")
int handler_err(void *ctx)
{
    struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
    if (!e) return 0;
    e->pid = 1;
    bpf_ringbuf_submit(e, 0);
    return 0;
}
char LICENSE[] SEC("license") = "GPL";
]=] })
assert(obj:attach_all())
assert(obj:ringbuf("events", "struct event")):on(function(e)
  local broken = nil
  return broken.field   -- line 21: a bug in the handler
end)
os.execute("true")   -- the shell makes getppid calls
ebpf.run { duration = 5 }
print("not reached")
]==])
  t.eq(rc, 1)
  t.ok(err:find("error in an event handler (everything was detached)", 1, true), err)
  t.ok(err:find("script.lua:21: attempt to index", 1, true), err)
  t.ok(err:find("stack traceback", 1, true), err)
  t.ok(not out:find("not reached"), out)
  t.ok(not c.kernel_has_program("handler_err"), "nothing left attached")
end)

t.done()

-- Errors as a user meets them: compile errors in inline C point at the Lua
-- line; a Lua error in a handler is reported with a traceback, everything is
-- detached, and the run exits non-zero.
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

-- Typed maps: integer keys/values as numbers, structs as cdata built from
-- Lua tables, per-CPU values, iteration, read-and-reset, errors.
local t = require "harness"
local c = require "ebpf_common"
local ebpf = require "ebpf"
local ffi = require "ffi"
c.require_root()

local obj = assert(ebpf.compile { text = [[
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
struct flow { __u32 saddr; __u16 port; __u8 proto; };
struct stats { __u64 packets; __u64 bytes; char name[8]; };
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 16); __type(key, __u32); __type(value, __u64); } ints SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 16); __type(key, struct flow); __type(value, struct stats); } flows SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); __uint(max_entries, 2); __type(key, __u32); __type(value, __u64); } percpu SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 4); __type(key, __u32); __type(value, __s32); } signed_array SEC(".maps");
SEC("tracepoint/syscalls/sys_enter_getppid")
int maps_lua(void *ctx) { return 0; }
SEC("kprobe/do_sys_openat2")
int kprobe_lua(void *ctx) { return 0; }
char LICENSE[] SEC("license") = "GPL";
]] })

t.test("integer keys and values round-trip as numbers", function()
  local m = assert(obj:map("ints"))
  for k = 1, 5 do assert(m:update(k, k * 1000)) end
  t.eq(m:lookup(3), 3000)
  t.eq(m:lookup(99), nil)
  local sum, n = 0, 0
  for k, v in m:pairs() do sum = sum + k * v; n = n + 1 end
  t.eq(n, 5)
  t.eq(sum, 1000 * (1 + 4 + 9 + 16 + 25))
  t.eq(m:delete(3), true)
  t.eq(m:delete(3), false)
  local ok, err = m:update(1, 5, "noexist")
  t.eq(ok, nil)
  t.ok(err:find("already exists"), err)
  local info = m:info()
  t.eq(info.type, "hash")
  t.eq(info.max_entries, 16)
end)

t.test("struct keys and values from Lua tables come back as typed cdata", function()
  local m = assert(obj:map("flows"))
  assert(m:update({ saddr = 0x7f000001, port = 443, proto = 6 }, { packets = 10, bytes = 1500, name = "https" }))
  local v = m:lookup({ saddr = 0x7f000001, port = 443, proto = 6 })
  t.eq(tonumber(v.packets), 10)
  t.eq(tonumber(v.bytes), 1500)
  t.eq(ffi.string(v.name), "https")
  for k, val in m:pairs() do
    t.eq(k.port, 443)
    t.eq(k.proto, 6)
    t.eq(tonumber(val.bytes), 1500)
  end
end)

t.test("per-CPU values: one per CPU, and summed", function()
  local m = assert(obj:map("percpu"))
  local cpus = m:info().cpus
  local values = {}
  for i = 1, cpus do values[i] = i end
  assert(m:update(1, values))
  local got = m:lookup(1)
  t.eq(#got, cpus)
  t.eq(got[cpus], cpus)
  t.eq(m:lookup_sum(1), cpus * (cpus + 1) / 2)
end)

t.test("signed values, arrays and read-and-reset", function()
  local m = assert(obj:map("signed_array"))
  assert(m:update(2, -7))
  t.eq(m:lookup(2), -7)
  local seen = {}
  for k, v in m:pairs(true) do seen[k] = v end
  t.eq(seen[2], -7)
  t.eq(m:lookup(2), 0)
  local ints = assert(obj:map("ints"))
  assert(ints:update(9, 9))
  assert(ints:clear())
  t.eq(ints:lookup(9), nil)
end)

t.test("misuse raises, runtime failures return nil and a message", function()
  t.raises(function() obj:map("ints"):lookup({ nonsense = true }) end, "cannot convert key")
  local none, err = obj:map("no_such_map")
  t.eq(none, nil)
  t.ok(err:find("its maps are: ints, flows, percpu, signed_array"), err)
  t.raises(function() obj:attach(42) end, "program name")
  local link, aerr = obj:attach("maps_lua", "tracepoint/syscalls/sys_enter_getppidd")
  t.eq(link, nil)
  t.ok(aerr:find("sys_enter_getppid"), aerr)
  -- A failure on every kernel: where there are kprobes (the kernel matrix),
  -- the function does not exist.
  local k, kerr = obj:attach("kprobe_lua", "kprobe/ebpfrun_no_such_function")
  t.eq(k, nil)
  t.ok(kerr:find("kprobes are not available") or kerr:find("does not exist"), kerr)
end)

t.test("a closed object refuses use, and close is idempotent", function()
  local m = obj:map("ints")
  obj:close()
  obj:close()
  t.raises(function() m:lookup(1) end, "closed BPF object")
  t.ok(not c.kernel_has_program("maps_lua"))
end)

t.done()

-- Typed events from a ring buffer and a perf buffer: exact counts, order and
-- field values, decoded from the object's BTF with no mirror struct.
local t = require "harness"
local c = require "ebpf_common"
local ebpf = require "ebpf"
local ffi = require "ffi"
c.require_root()

local N = 500

local function probe(kind)
  local map = kind == "ringbuf"
      and "struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 1 << 20); } events SEC(\".maps\");"
      or "struct { __uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY); __uint(key_size, 4); __uint(value_size, 4); } events SEC(\".maps\");"
  local emit = kind == "ringbuf"
      and "struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0); if (!e) return 0; fill(e, ctx); bpf_ringbuf_submit(e, 0);"
      or "struct event ev = {}; fill(&ev, ctx); bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, &ev, sizeof(ev));"
  return ebpf.compile { filter = { pid = c.pid() }, text = ([[
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
struct inner { __u16 a; __u8 b[3]; };
struct event { __u64 seq; __u32 pid; char comm[16]; struct inner in; union { __u32 u; float f; } un; };
%s
static __always_inline void fill(struct event *e, struct trace_event_raw_sys_enter *ctx)
{
    e->seq = ctx->args[0];
    e->pid = bpf_get_current_pid_tgid() >> 32;
    bpf_get_current_comm(e->comm, sizeof(e->comm));
    e->in.a = 0xbeef; e->in.b[2] = 7; e->un.u = 42;
}
SEC("tracepoint/syscalls/sys_enter_getpgid")
int evt_lua(struct trace_event_raw_sys_enter *ctx)
{
    /*FILTER*/
    %s
    return 0;
}
char LICENSE[] SEC("license") = "GPL";
]]):format(map, emit) }
end

for _, kind in ipairs({ "ringbuf", "perfbuf" }) do
  t.test(kind .. " delivers exactly N typed events in order", function()
    local obj, err = probe(kind)
    t.ok(obj, err)
    t.ok(obj:attach_all())
    local reader = assert(kind == "ringbuf" and obj:ringbuf("events", "struct event") or obj:perfbuf("events", "struct event"))
    local seen, in_order, bad = 0, true, nil
    reader:on(function(e)
      seen = seen + 1
      if tonumber(e.seq) ~= seen then in_order = false end
      if e.pid ~= c.pid() or ffi.string(e.comm) ~= "ebpfrun" or e["in"].a ~= 0xbeef or e["in"].b[2] ~= 7 or e.un.u ~= 42 then
        bad = ("event %d: pid %d comm %s"):format(seen, e.pid, ffi.string(e.comm))
      end
      if seen == N then ebpf.stop() end
    end)
    for i = 1, N do c.getpgid(i) end
    local reason = ebpf.run { duration = 10 }
    t.eq(reason, "stopped")
    t.eq(seen, N)
    t.ok(in_order, "events arrive in order")
    t.eq(bad, nil)
    local stats = reader:stats()
    t.eq(stats.received, N)
    t.eq(stats.lost + stats.dropped, 0)
    obj:close()
    t.ok(not c.kernel_has_program("evt_lua"), "program gone after close")
  end)
end

t.test("ebpf.run returns on duration and calls tick every interval", function()
  local ticks = 0
  local reason = ebpf.run { duration = 0.55, every = 0.1, tick = function() ticks = ticks + 1 end }
  t.eq(reason, "duration")
  t.ok(ticks >= 4 and ticks <= 6, "about 5 ticks, got " .. ticks)
end)

t.done()

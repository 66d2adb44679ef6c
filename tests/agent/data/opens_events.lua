-- A collector of the agent tests' own: openat calls as ring-buffer events,
-- counted per process by a Lua handler. It exercises what the shipped
-- collectors do not: a custom script (collectors.NAME.script), inline BPF C,
-- a start function, and the agent's per-reader event counters.
local ffi = require "ffi"

local counts = {}
return {
  name = "opens_events",
  text = [[
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
struct event { __u32 pid; char comm[16]; };
struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 1 << 16); } events SEC(".maps");
SEC("tracepoint/syscalls/sys_enter_openat")
int on_openat(void *ctx)
{
    /*FILTER*/
    struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
    if (!e)
        return 0;
    e->pid = bpf_get_current_pid_tgid() >> 32;
    bpf_get_current_comm(e->comm, sizeof(e->comm));
    bpf_ringbuf_submit(e, 0);
    return 0;
}
char LICENSE[] SEC("license") = "GPL";
]],
  metrics = {
    { name = "ebpfrun_test_open_events_total", type = "counter", labels = { "pid", "comm" }, value = "count",
      help = "openat calls seen as ring-buffer events." },
  },
  start = function(state)
    local events = assert(state.obj:ringbuf("events", "struct event"))
    events:on(function(e)
      local pid = e.pid
      local row = counts[pid]
      if not row then
        row = { pid = pid, comm = ffi.string(e.comm), count = 0 }
        counts[pid] = row
      end
      row.count = row.count + 1
    end)
  end,
  collect = function()
    local rows = {}
    for _, row in pairs(counts) do rows[#rows + 1] = row end
    return rows
  end,
}

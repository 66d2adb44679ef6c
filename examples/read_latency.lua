-- read() latency per process, with a map shared by two programs: the entry
-- program stores a start time per thread, the exit program reads and deletes
-- it and adds the elapsed time to a per-process total.
--   ebpfrun examples/read_latency.lua [--comm NAME] [--duration S]
local ebpf = require "ebpf"
local ffi = require "ffi"
local args = require "ebpf.args"

local opts = args.parse(arg, { name = "read_latency", description = "Time spent in read() per process.",
                               standard = { "pid", "comm", "duration", "interval" } })

local obj = assert(ebpf.compile { filter = opts.filter, text = [[
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 10240); __type(key, __u32); __type(value, __u64); } start SEC(".maps");
struct totals { __u64 calls; __u64 ns; char comm[16]; };
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 4096); __type(key, __u32); __type(value, struct totals); } per_pid SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_read")
int read_enter(void *ctx)
{
    /*FILTER*/
    __u32 tid = (__u32)bpf_get_current_pid_tgid();
    __u64 now = bpf_ktime_get_ns();
    bpf_map_update_elem(&start, &tid, &now, BPF_ANY);
    return 0;
}

SEC("tracepoint/syscalls/sys_exit_read")
int read_exit(void *ctx)
{
    __u64 id = bpf_get_current_pid_tgid();
    __u32 tid = (__u32)id, pid = id >> 32;
    __u64 *t0 = bpf_map_lookup_elem(&start, &tid);
    if (!t0)
        return 0;
    __u64 delta = bpf_ktime_get_ns() - *t0;
    bpf_map_delete_elem(&start, &tid);
    struct totals *t = bpf_map_lookup_elem(&per_pid, &pid);
    if (!t) {
        struct totals fresh = {};
        bpf_get_current_comm(fresh.comm, sizeof(fresh.comm));
        bpf_map_update_elem(&per_pid, &pid, &fresh, BPF_NOEXIST);
        t = bpf_map_lookup_elem(&per_pid, &pid);
        if (!t)
            return 0;
    }
    __sync_fetch_and_add(&t->calls, 1);
    __sync_fetch_and_add(&t->ns, delta);
    return 0;
}
char LICENSE[] SEC("license") = "GPL";
]] })
assert(obj:attach_all())
local per_pid = assert(obj:map("per_pid"))

ebpf.run {
  every = opts.interval or 2,
  duration = opts.duration,
  tick = function()
    print(("%-7s %-16s %8s %12s"):format("PID", "COMM", "CALLS", "AVG us"))
    for pid, t in per_pid:pairs(true) do
      local calls = tonumber(t.calls)
      print(("%-7d %-16s %8d %12.1f"):format(pid, ffi.string(t.comm), calls, tonumber(t.ns) / calls / 1000))
    end
  end,
}

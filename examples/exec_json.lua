-- Every exec() as a JSON line: a ring-buffer event stream for other tools.
--   ebpfrun examples/exec_json.lua | jq .
local ebpf = require "ebpf"
local ffi = require "ffi"
local json = require "ebpf.json"
local args = require "ebpf.args"

local opts = args.parse(arg, { name = "exec_json", description = "exec() events as JSON lines.",
                               standard = { "pid", "comm", "uid", "duration" } })

local obj = assert(ebpf.compile { filter = opts.filter, text = [[
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct event { __u64 ts_ns; __u32 pid; __u32 ppid; char comm[16]; char filename[128]; };
struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 1 << 20); } events SEC(".maps");

SEC("tracepoint/sched/sched_process_exec")
int on_exec(struct trace_event_raw_sched_process_exec *ctx)
{
    /*FILTER*/
    struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
    if (!e)
        return 0;
    struct task_struct *task = (void *)bpf_get_current_task();
    e->ts_ns = bpf_ktime_get_ns();
    e->pid = bpf_get_current_pid_tgid() >> 32;
    e->ppid = BPF_CORE_READ(task, real_parent, tgid);
    bpf_get_current_comm(e->comm, sizeof(e->comm));
    bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), (void *)ctx + (ctx->__data_loc_filename & 0xffff));
    bpf_ringbuf_submit(e, 0);
    return 0;
}
char LICENSE[] SEC("license") = "GPL";
]] })
assert(obj:attach_all())
assert(obj:ringbuf("events", "struct event")):on(function(e)
  io.stdout:write(json.encode { ts_ns = tonumber(e.ts_ns), pid = e.pid, ppid = e.ppid,
                                comm = ffi.string(e.comm), filename = ffi.string(e.filename) }, "\n")
  io.stdout:flush()
end)
ebpf.run { duration = opts.duration }

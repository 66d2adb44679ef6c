-- Trace every openat() with the process and the file name, like BCC's opensnoop.
--   ebpfrun examples/opensnoop.lua [--pid N] [--comm NAME] [--duration S]
local ebpf = require "ebpf"
local ffi = require "ffi"
local args = require "ebpf.args"

local opts = args.parse(arg, { name = "opensnoop", description = "Trace openat() calls with file names.",
                               standard = { "pid", "comm", "uid", "duration" } })

local obj = assert(ebpf.compile { filter = opts.filter, text = [[
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct event {
    __u32 pid;
    __u32 uid;
    char comm[16];
    char filename[256];
};
struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 1 << 20); } events SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_openat")
int trace_openat(struct trace_event_raw_sys_enter *ctx)
{
    /*FILTER*/
    struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
    if (!e)
        return 0;
    e->pid = bpf_get_current_pid_tgid() >> 32;
    e->uid = (__u32)bpf_get_current_uid_gid();
    bpf_get_current_comm(e->comm, sizeof(e->comm));
    bpf_probe_read_user_str(e->filename, sizeof(e->filename), (const char *)ctx->args[1]);
    bpf_ringbuf_submit(e, 0);
    return 0;
}
char LICENSE[] SEC("license") = "GPL";
]] })
assert(obj:attach_all())

-- The event type comes from the object's BTF: no mirror struct here.
local events = assert(obj:ringbuf("events", "struct event"))
print(("%-7s %-6s %-16s %s"):format("PID", "UID", "COMM", "FILE"))
events:on(function(e)
  print(("%-7d %-6d %-16s %s"):format(e.pid, e.uid, ffi.string(e.comm), ffi.string(e.filename)))
end)
ebpf.run { duration = opts.duration }
local s = events:stats()
io.stderr:write(("%d events, %d dropped\n"):format(s.received, s.dropped))

// Counts openat() calls per process. The bundled example that `ebpfrun check`
// compiles and loads in the README's first command.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "ebpfrun.h"

EBPFRUN_HASH(opens_by_pid, __u32, __u64, 10240);

SEC("tracepoint/syscalls/sys_enter_openat")
int count_openat(struct trace_event_raw_sys_enter *ctx)
{
    /*FILTER*/
    __u32 pid = ebpfrun_current_pid();
    __u64 one = 1, *count = bpf_map_lookup_elem(&opens_by_pid, &pid);
    if (count)
        __sync_fetch_and_add(count, 1);
    else
        bpf_map_update_elem(&opens_by_pid, &pid, &one, BPF_NOEXIST);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";

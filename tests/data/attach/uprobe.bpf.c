/* uprobe, uretprobe and USDT programs for tests/attach, probing the
 * attach_target test binary (tests/data/attach/target.c). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>
#include "ebpfrun.h"

struct seen {
    __u32 pid;
    long value;
};

/* ebpfrun_target_add(a, b): a -> (pid, b) */
EBPFRUN_HASH(att_add_args, long, struct seen, 64);
/* its return values: ret -> (pid, ret) */
EBPFRUN_HASH(att_add_rets, long, struct seen, 64);
/* USDT ebpfrun_test:tick(a, b): a -> (pid, b) */
EBPFRUN_HASH(att_ticks, long, struct seen, 64);

SEC("uprobe")
int BPF_KPROBE(att_add_entry, long a, long b)
{
    struct seen s = { .pid = ebpfrun_current_pid(), .value = b };
    bpf_map_update_elem(&att_add_args, &a, &s, BPF_ANY);
    return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(att_add_return, long ret)
{
    struct seen s = { .pid = ebpfrun_current_pid(), .value = ret };
    bpf_map_update_elem(&att_add_rets, &ret, &s, BPF_ANY);
    return 0;
}

SEC("usdt")
int BPF_USDT(att_tick, long a, long b)
{
    struct seen s = { .pid = ebpfrun_current_pid(), .value = b };
    bpf_map_update_elem(&att_ticks, &a, &s, BPF_ANY);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";

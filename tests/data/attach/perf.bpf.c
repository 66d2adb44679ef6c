/* A perf_event sampling program for tests/attach: samples per process. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "ebpfrun.h"

EBPFRUN_HASH(att_samples, __u32, __u64, 8192);

SEC("perf_event")
int att_sample(struct bpf_perf_event_data *ctx)
{
    __u32 pid = ebpfrun_current_pid();
    __u64 one = 1;
    __u64 *n = bpf_map_lookup_elem(&att_samples, &pid);
    if (n)
        __sync_fetch_and_add(n, 1);
    else
        bpf_map_update_elem(&att_samples, &pid, &one, BPF_NOEXIST);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";

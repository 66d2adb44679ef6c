// profile: on-CPU sampling. A perf_event program runs at N Hz on every CPU
// (perf_event/cpu-clock:freq=N) and counts samples per (pid, comm, kernel
// stack, user stack); scripts/profile.lua symbolizes the stacks in the host.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "ebpfrun_stacks.h"

struct profile_key {
    __u32 pid;
    __s32 kernel_stack; // stack id, or negative (no kernel stack: the sample hit user mode)
    __s32 user_stack;   // stack id, or negative (a kernel thread)
    char comm[16];
};

EBPFRUN_STACK_MAP(profile_stacks, 16384);

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 16384);
    __type(key, struct profile_key);
    __type(value, __u64);
} profile_counts SEC(".maps");

SEC("perf_event")
int profile_sample(struct bpf_perf_event_data *ctx)
{
    /*FILTER*/
    struct profile_key key = {};
    key.pid = bpf_get_current_pid_tgid() >> 32;
    // The idle task (pid 0) is not CPU time anyone used.
    if (key.pid == 0)
        return 0;
    bpf_get_current_comm(key.comm, sizeof(key.comm));
    key.kernel_stack = EBPFRUN_KSTACK(ctx, profile_stacks);
    key.user_stack = EBPFRUN_USTACK(ctx, profile_stacks);
    __u64 one = 1;
    __u64 *count = bpf_map_lookup_elem(&profile_counts, &key);
    if (count)
        __sync_fetch_and_add(count, 1);
    else
        bpf_map_update_elem(&profile_counts, &key, &one, BPF_NOEXIST);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";

// syscalls collector: count, errors and time per (process, syscall), from the
// raw_syscalls enter/exit tracepoints (no kprobes: they work everywhere).
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct syscall_key {
    __u32 pid;
    __u32 nr;
};

struct syscall_stats {
    __u64 count;
    __u64 errors;
    __u64 total_ns;
    char comm[16];
};

struct syscall_start {
    __u64 ts;
    __u64 nr;
};

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 65536);
    __type(key, __u32);
    __type(value, struct syscall_start);
} syscall_starts SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 16384);
    __type(key, struct syscall_key);
    __type(value, struct syscall_stats);
} syscall_stats SEC(".maps");

SEC("tracepoint/raw_syscalls/sys_enter")
int syscalls_enter(struct trace_event_raw_sys_enter *ctx)
{
    /*FILTER*/
    __u32 tid = (__u32)bpf_get_current_pid_tgid();
    struct syscall_start start = {.ts = bpf_ktime_get_ns(), .nr = ctx->id};
    bpf_map_update_elem(&syscall_starts, &tid, &start, BPF_ANY);
    return 0;
}

// Only calls whose entry passed the filter have a start record, so the exit
// side needs no filter of its own.
SEC("tracepoint/raw_syscalls/sys_exit")
int syscalls_exit(struct trace_event_raw_sys_exit *ctx)
{
    __u64 id = bpf_get_current_pid_tgid();
    __u32 tid = (__u32)id;
    struct syscall_start *start = bpf_map_lookup_elem(&syscall_starts, &tid);
    if (!start)
        return 0;
    struct syscall_key key = {.pid = id >> 32, .nr = (__u32)start->nr};
    __u64 elapsed = bpf_ktime_get_ns() - start->ts;
    bpf_map_delete_elem(&syscall_starts, &tid);

    struct syscall_stats *stats = bpf_map_lookup_elem(&syscall_stats, &key);
    if (!stats) {
        struct syscall_stats fresh = {};
        bpf_get_current_comm(fresh.comm, sizeof(fresh.comm));
        bpf_map_update_elem(&syscall_stats, &key, &fresh, BPF_NOEXIST);
        stats = bpf_map_lookup_elem(&syscall_stats, &key);
        if (!stats)
            return 0;
    }
    __sync_fetch_and_add(&stats->count, 1);
    if (ctx->ret < 0)
        __sync_fetch_and_add(&stats->errors, 1);
    __sync_fetch_and_add(&stats->total_ns, elapsed);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";

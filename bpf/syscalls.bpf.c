// syscalls collector: count, errors and time per (process, syscall), from the
// raw_syscalls enter/exit tracepoints (no kprobes: they work everywhere).
//
// Bounded maps. syscall_starts holds one record per thread inside a traced
// system call; a thread that exits inside one (exit, exit_group, or killed
// while blocked) never reaches sys_exit, so its record is deleted at
// sched_process_exit, which fires once per exiting thread. syscall_stats is
// an LRU hash: a new process always gets a slot, and when the map is full the
// entry updated least recently (typically of a process that exited long ago)
// is evicted, rather than every process that comes later going uncounted. The
// entries of an exited process are kept, not deleted, so that user space sees
// a short-lived process's counts at least once (a -c run's final table shows
// them). Both maps count their inserts and failed inserts (ebpfrun_maps.h),
// from which user space reports a full map.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "ebpfrun_maps.h"

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

EBPFRUN_COUNTED_MAP(syscall_starts, BPF_MAP_TYPE_HASH, __u32, struct syscall_start, 65536);
EBPFRUN_COUNTED_MAP(syscall_stats, BPF_MAP_TYPE_LRU_HASH, struct syscall_key, struct syscall_stats,
                    EBPFRUN_MAP_SIZE(16384));

SEC("tracepoint/raw_syscalls/sys_enter")
int syscalls_enter(struct trace_event_raw_sys_enter *ctx)
{
    /*FILTER*/
    __u32 tid = (__u32)bpf_get_current_pid_tgid();
    struct syscall_start start = {.ts = bpf_ktime_get_ns(), .nr = ctx->id};
    // A thread's record is replaced at each call: only the first insert of a
    // thread can fail, and an insert is counted once per call.
    EBPFRUN_INSERT(syscall_starts, &tid, &start, BPF_ANY);
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
        stats = EBPFRUN_LOOKUP_OR_INSERT(syscall_stats, &key, &fresh);
        if (!stats)
            return 0;
    }
    __sync_fetch_and_add(&stats->count, 1);
    if (ctx->ret < 0)
        __sync_fetch_and_add(&stats->errors, 1);
    __sync_fetch_and_add(&stats->total_ns, elapsed);
    return 0;
}

// A thread that exits inside a system call leaves its start record behind.
SEC("tracepoint/sched/sched_process_exit")
int syscalls_thread_exit(void *ctx)
{
    __u32 tid = (__u32)bpf_get_current_pid_tgid();
    bpf_map_delete_elem(&syscall_starts, &tid);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";

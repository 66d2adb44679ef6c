// syscalls collector: count, errors and time per (process, syscall), from the
// raw_syscalls enter/exit tracepoints as raw tracepoints (raw_tp: the program
// reads the arguments the kernel passes, with no trace-buffer record built
// first; no kprobes: they work everywhere).
//
// raw_tp rather than tp_btf, which costs the same per call: a raw_tp
// program needs no kernel BTF at all (the count-only exit's one CO-RE read
// relocates against the cut of it that the loader caches), a tp_btf one its
// tracepoint's type id (which the loader also caches, but learns from the
// whole kernel BTF on a first start). The task, which task storage needs as
// a BTF pointer, is the current one: bpf_get_current_task_btf().
//
// A thread's start time lives in task storage, which the kernel frees with
// the task: no hash insert and delete per call, and nothing left behind by a
// thread that exits inside a system call. syscall_stats is an LRU hash: a new
// process always gets a slot, and when the map is full the entry updated
// least recently (typically of a process that exited long ago) is evicted,
// rather than every process that comes later going uncounted. The entries of
// an exited process are kept, not deleted, so that user space sees a
// short-lived process's counts at least once (a -c run's final table shows
// them; the agent deletes them once read). The map counts its inserts and
// failed inserts (ebpfrun_maps.h), from which user space reports a full map.
//
// COUNT_ONLY=1 (--count-only) keeps counts and errors and drops the time:
// one program at sys_exit, nothing at sys_enter (what syscount does without
// -L).
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
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

EBPFRUN_COUNTED_MAP(syscall_stats, BPF_MAP_TYPE_LRU_HASH, struct syscall_key, struct syscall_stats,
                    EBPFRUN_MAP_SIZE(16384));

#ifndef COUNT_ONLY
struct syscall_start {
    __u64 ts;
    __u64 nr;
};

struct {
    __uint(type, BPF_MAP_TYPE_TASK_STORAGE);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, int);
    __type(value, struct syscall_start);
} syscall_starts SEC(".maps");

// sys_enter(struct pt_regs *regs, long id)
SEC("raw_tp/sys_enter")
int syscalls_enter(struct bpf_raw_tracepoint_args *ctx)
{
    /*FILTER*/
    struct syscall_start *start = bpf_task_storage_get(&syscall_starts, bpf_get_current_task_btf(),
                                                       0, BPF_LOCAL_STORAGE_GET_F_CREATE);
    if (!start)
        return 0;
    start->nr = ctx->args[1];
    start->ts = bpf_ktime_get_ns();
    return 0;
}
#endif

// sys_exit(struct pt_regs *regs, long ret)
SEC("raw_tp/sys_exit")
int syscalls_exit(struct bpf_raw_tracepoint_args *ctx)
{
#ifdef COUNT_ONLY
    /*FILTER*/
    struct pt_regs *regs = (struct pt_regs *)ctx->args[0];
    struct syscall_key key = {.pid = bpf_get_current_pid_tgid() >> 32,
                              .nr = (__u32)BPF_CORE_READ(regs, orig_ax)};
    __u64 elapsed = 0;
#else
    // Only calls whose entry passed the filter have a start time, so the exit
    // side needs no filter of its own.
    struct task_struct *task = bpf_get_current_task_btf();
    struct syscall_start *start = bpf_task_storage_get(&syscall_starts, task, 0, 0);
    if (!start || !start->ts)
        return 0;
    // The process id is loaded from the task, which is at hand: one helper
    // call fewer than bpf_get_current_pid_tgid() on every call.
    struct syscall_key key = {.pid = task->tgid, .nr = (__u32)start->nr};
    __u64 elapsed = bpf_ktime_get_ns() - start->ts;
    start->ts = 0;
#endif
    long ret = (long)ctx->args[1];

    struct syscall_stats *stats = bpf_map_lookup_elem(&syscall_stats, &key);
    if (!stats) {
        struct syscall_stats fresh = {};
        bpf_get_current_comm(fresh.comm, sizeof(fresh.comm));
        stats = EBPFRUN_LOOKUP_OR_INSERT(syscall_stats, &key, &fresh);
        if (!stats)
            return 0;
    }
    __sync_fetch_and_add(&stats->count, 1);
    if (ret < 0)
        __sync_fetch_and_add(&stats->errors, 1);
    if (elapsed)
        __sync_fetch_and_add(&stats->total_ns, elapsed);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";

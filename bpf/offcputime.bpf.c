// offcputime: time blocked per stack. At every context switch (raw_tp
// sched_switch, which runs while the task being switched out is still
// current) the task going off the CPU records when it left and its kernel
// and user stack ids; when it is switched back in, the time since goes to
// its (pid, comm, kernel stack, user stack) total. scripts/offcputime.lua
// symbolizes the stacks in the host.
//
// With OFFCPU_WAKEUP (--wakeup, BCC's offwaketime), a raw_tp/sched_waking
// program also records, per woken thread, the stacks and comm of the task
// that wakes it (sched_waking runs in the waker's context, before any
// cross-CPU hand-off), and the switch-in adds them to the key: the blocked
// time is then per (sleeper's stack, waker's stack) pair.
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "ebpfrun_stacks.h"

// Shorter blocks are not counted (--min-us), in nanoseconds.
#ifndef OFFCPU_MIN_NS
#define OFFCPU_MIN_NS 1
#endif
#ifndef OFFCPU_KERNEL_STACKS
#define OFFCPU_KERNEL_STACKS 1
#endif
#ifndef OFFCPU_USER_STACKS
#define OFFCPU_USER_STACKS 1
#endif
#ifndef OFFCPU_WAKEUP
#define OFFCPU_WAKEUP 0
#endif

// Who woke a thread: its stacks and comm (all zero and -1 without --wakeup,
// or when the thread came back without a recorded wakeup, as after preemption).
struct offcpu_waker {
    __u32 pid;
    __s32 kernel_stack;
    __s32 user_stack;
    char comm[16];
};

struct offcpu_key {
    __u32 pid;
    __s32 kernel_stack; // stack id, or negative (not taken, or none)
    __s32 user_stack;   // stack id, or negative (a kernel thread)
    char comm[16];
    struct offcpu_waker waker;
};

struct offcpu_start {
    __u64 ns;
    struct offcpu_key key;
};

EBPFRUN_STACK_MAP(offcpu_stacks, 16384);

// Threads off the CPU now, by thread id. An LRU map: a thread that exits
// while switched out never comes back to delete its entry.
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 32768);
    __type(key, __u32);
    __type(value, struct offcpu_start);
} offcpu_starts SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 16384);
    __type(key, struct offcpu_key);
    __type(value, __u64);
} offcpu_times SEC(".maps");

#if OFFCPU_WAKEUP
// Wakers by woken thread id, until the woken thread runs.
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 32768);
    __type(key, __u32);
    __type(value, struct offcpu_waker);
} offcpu_wakers SEC(".maps");

// TP_PROTO(struct task_struct *p)
SEC("raw_tp/sched_waking")
int offcpu_waking(struct bpf_raw_tracepoint_args *ctx)
{
    struct task_struct *p = (struct task_struct *)ctx->args[0];
    __u32 tid = BPF_CORE_READ(p, pid);
    struct offcpu_waker w = {};
    w.pid = bpf_get_current_pid_tgid() >> 32;
    bpf_get_current_comm(w.comm, sizeof(w.comm));
    w.kernel_stack = OFFCPU_KERNEL_STACKS ? EBPFRUN_KSTACK(ctx, offcpu_stacks) : -1;
    w.user_stack = OFFCPU_USER_STACKS ? EBPFRUN_USTACK(ctx, offcpu_stacks) : -1;
    bpf_map_update_elem(&offcpu_wakers, &tid, &w, BPF_ANY);
    return 0;
}
#endif

// TP_PROTO(bool preempt, struct task_struct *prev, struct task_struct *next,
//          unsigned int prev_state)
SEC("raw_tp/sched_switch")
int offcpu_switch(struct bpf_raw_tracepoint_args *ctx)
{
    struct task_struct *next = (struct task_struct *)ctx->args[2];
    __u64 now = bpf_ktime_get_ns();

    // The thread coming back: its time off the CPU ends now. This comes
    // before the filter, which is about the current (outgoing) task.
    __u32 next_tid = BPF_CORE_READ(next, pid);
    struct offcpu_start *start = bpf_map_lookup_elem(&offcpu_starts, &next_tid);
    if (start) {
        __u64 delta = now - start->ns;
        struct offcpu_key key = start->key;
        bpf_map_delete_elem(&offcpu_starts, &next_tid);
#if OFFCPU_WAKEUP
        struct offcpu_waker *w = bpf_map_lookup_elem(&offcpu_wakers, &next_tid);
        if (w) {
            key.waker = *w;
            bpf_map_delete_elem(&offcpu_wakers, &next_tid);
        }
#endif
        if (delta >= OFFCPU_MIN_NS) {
            __u64 *total = bpf_map_lookup_elem(&offcpu_times, &key);
            if (total)
                __sync_fetch_and_add(total, delta);
            else
                bpf_map_update_elem(&offcpu_times, &key, &delta, BPF_NOEXIST);
        }
    }

    /*FILTER*/
    __u64 id = bpf_get_current_pid_tgid();
    // The idle task is not blocked when it leaves the CPU.
    if ((__u32)id == 0)
        return 0;
    struct offcpu_start out = {};
    out.ns = now;
    out.key.pid = id >> 32;
    bpf_get_current_comm(out.key.comm, sizeof(out.key.comm));
    out.key.kernel_stack = OFFCPU_KERNEL_STACKS ? EBPFRUN_KSTACK(ctx, offcpu_stacks) : -1;
    out.key.user_stack = OFFCPU_USER_STACKS ? EBPFRUN_USTACK(ctx, offcpu_stacks) : -1;
    out.key.waker.kernel_stack = -1;
    out.key.waker.user_stack = -1;
    __u32 tid = id;
    bpf_map_update_elem(&offcpu_starts, &tid, &out, BPF_ANY);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";

// scheduler collector: context switches, on-CPU and off-CPU time per process,
// and a histogram of run-queue latency (from being woken, or preempted, to
// running again).
//
// Filtering. /*FILTER*/ tests the current task, and in sched_switch the
// current task is `prev`, the one leaving the CPU. So every figure is
// committed for a task while it is current: when it is switched out (or
// exits), its on-CPU stretch that ends now, and the off-CPU stretch and
// run-queue wait that ended when it was switched in, are added to its
// process under the filter. The times of a switch-in are parked meanwhile in
// a per-CPU slot (the task stays on this CPU until it is switched out). So
// --pid N means the same for all metrics: the time, switches and run-queue
// waits of process N's threads; the histogram holds only those waits.
//
// An off-CPU stretch starts at a switch-out that passed the filter (or at
// the creation of a task, sched_wakeup_new, which is committed under the
// filter later like everything else), so stretches that began before tracing
// are not counted, and neither is the one a task is in when tracing stops.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#define TASK_RUNNING 0
#define TASK_DEAD 0x80
#define HIST_BUCKETS 64

// A task that is off the CPU: since when, and since when it is runnable
// (woken, or preempted and thus runnable all along); 0 while it sleeps.
struct off_cpu {
    __u64 since;
    __u64 woken;
};

// The task on this CPU, from its switch-in until it is committed.
struct on_cpu {
    __u32 tid;
    __u32 waited;       // runq_ns holds a run-queue wait to commit
    __u64 since;        // start of the on-CPU stretch not yet committed
    __u64 off_ns;       // the off-CPU stretch that ended at the switch-in
    __u64 runq_ns;      // the run-queue wait that ended at the switch-in
};

struct sched_stats {
    __u64 on_ns;
    __u64 off_ns;
    __u64 runq_ns;
    __u64 runq_waits;
    __u64 switches;
    __u64 involuntary;
    char comm[16];
};

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 65536);
    __type(key, __u32);
    __type(value, struct off_cpu);
} off_cpus SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct on_cpu);
} running SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 16384);
    __type(key, __u32);
    __type(value, struct sched_stats);
} sched_stats SEC(".maps");

// Run-queue latency in microseconds, log2 buckets indexed as ebpf.hist does:
// 0 for 0, else the value's bit length.
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, HIST_BUCKETS);
    __type(key, __u32);
    __type(value, __u64);
} runq_hist SEC(".maps");

static __always_inline __u32 bit_length(__u64 v)
{
    __u32 n = 0;
    if (v >> 32) { v >>= 32; n += 32; }
    if (v >> 16) { v >>= 16; n += 16; }
    if (v >> 8) { v >>= 8; n += 8; }
    if (v >> 4) { v >>= 4; n += 4; }
    if (v >> 2) { v >>= 2; n += 2; }
    if (v >> 1) { v >>= 1; n += 1; }
    return n + (__u32)v;
}

static __always_inline struct sched_stats *stats_of(__u32 pid)
{
    struct sched_stats *stats = bpf_map_lookup_elem(&sched_stats, &pid);
    if (stats)
        return stats;
    struct sched_stats fresh = {};
    bpf_map_update_elem(&sched_stats, &pid, &fresh, BPF_NOEXIST);
    return bpf_map_lookup_elem(&sched_stats, &pid);
}

// Commits what is known about the current task `task` (under the filter).
// switched_out: it is leaving the CPU now (else it is exiting and keeps
// running a little longer); runnable: it stays runnable (preempted).
static __always_inline int commit_current(struct task_struct *task, __u64 now, bool switched_out, bool runnable,
                                          bool dead)
{
    /*FILTER*/
    __u32 tid = task->pid;
    struct sched_stats *stats = stats_of(task->tgid);
    if (!stats)
        return 0;
    // Refreshed on every commit so that a process that exec()s shows its
    // final name.
    bpf_get_current_comm(stats->comm, sizeof(stats->comm));
    __u32 zero = 0;
    struct on_cpu *slot = bpf_map_lookup_elem(&running, &zero);
    // No slot for this task: it has been running since before tracing began.
    if (slot && slot->tid == tid) {
        __sync_fetch_and_add(&stats->on_ns, now - slot->since);
        __sync_fetch_and_add(&stats->off_ns, slot->off_ns);
        if (slot->waited) {
            __sync_fetch_and_add(&stats->runq_ns, slot->runq_ns);
            __sync_fetch_and_add(&stats->runq_waits, 1);
            __u32 bucket = bit_length(slot->runq_ns / 1000);
            if (bucket >= HIST_BUCKETS)
                bucket = HIST_BUCKETS - 1;
            __u64 *count = bpf_map_lookup_elem(&runq_hist, &bucket);
            if (count)
                __sync_fetch_and_add(count, 1);
        }
        slot->since = now;
        slot->off_ns = 0;
        slot->waited = 0;
    }
    if (!switched_out)
        return 0;
    __sync_fetch_and_add(&stats->switches, 1);
    if (runnable)
        __sync_fetch_and_add(&stats->involuntary, 1);
    if (!dead) {
        struct off_cpu off = { .since = now, .woken = runnable ? now : 0 };
        bpf_map_update_elem(&off_cpus, &tid, &off, BPF_ANY);
    }
    return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(scheduler_switch, bool preempt, struct task_struct *prev, struct task_struct *next,
             unsigned int prev_state)
{
    __u64 now = bpf_ktime_get_ns();
    // Thread id 0 is a CPU's idle task, not a process.
    if (prev->pid != 0)
        commit_current(prev, now, true, preempt || prev_state == TASK_RUNNING, prev_state & TASK_DEAD);

    // The switch-in is recorded for every task: whether it counts is decided
    // when the task is committed.
    __u32 zero = 0;
    struct on_cpu *slot = bpf_map_lookup_elem(&running, &zero);
    if (!slot)
        return 0;
    __u32 tid = next->pid;
    slot->tid = tid;
    slot->since = now;
    slot->off_ns = 0;
    slot->runq_ns = 0;
    slot->waited = 0;
    struct off_cpu *off = bpf_map_lookup_elem(&off_cpus, &tid);
    if (off) {
        slot->off_ns = now - off->since;
        if (off->woken) {
            slot->runq_ns = now - off->woken;
            slot->waited = 1;
        }
        bpf_map_delete_elem(&off_cpus, &tid);
    }
    return 0;
}

// Only tasks with an off-CPU record (ones that passed the filter when they
// left the CPU) are of interest; the first wakeup ends their sleep.
SEC("tp_btf/sched_wakeup")
int BPF_PROG(scheduler_wakeup, struct task_struct *task)
{
    __u32 tid = task->pid;
    struct off_cpu *off = bpf_map_lookup_elem(&off_cpus, &tid);
    if (off && !off->woken)
        off->woken = bpf_ktime_get_ns();
    return 0;
}

// A new task is runnable from its creation on; its first wait is recorded
// here for every task and committed (or dropped) under the filter when it
// first leaves the CPU.
SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(scheduler_wakeup_new, struct task_struct *task)
{
    __u32 tid = task->pid;
    __u64 now = bpf_ktime_get_ns();
    struct off_cpu off = { .since = now, .woken = now };
    bpf_map_update_elem(&off_cpus, &tid, &off, BPF_ANY);
    return 0;
}

// An exiting task's last stretch on the CPU is committed here, while its
// parent may still be unaware of the exit: the parent (ebpfrun -c, say) can
// reap it and read the maps before the task's final switch-out, which then
// adds only the few microseconds of the exit itself.
SEC("tp_btf/sched_process_exit")
int BPF_PROG(scheduler_exit, struct task_struct *task)
{
    return commit_current(task, bpf_ktime_get_ns(), false, false, false);
}

char LICENSE[] SEC("license") = "GPL";

// scheduler collector: context switches, on-CPU and off-CPU time per process,
// and a histogram of run-queue latency (from being woken, or preempted, to
// running again).
//
// Filtering. /*FILTER*/ tests the current task, and in sched_switch the
// current task is `prev`, the one leaving the CPU. So every figure is
// committed for a thread while it is current: when it is switched out (or
// exits), its time on the CPU since its last commit, and the off-CPU stretch
// and run-queue wait that ended when it was last switched in, are added to
// its process under the filter. So --pid N means the same for all metrics:
// the time, switches and run-queue waits of process N's threads; the
// histogram holds only those waits. Per-thread state (thread_state) is kept
// for threads that passed the filter, and dropped when one does not.
//
// On-CPU time is the kernel's own account, task->se.sum_exec_runtime, at each
// commit, rather than the time between a switch-in and a switch-out: a
// switch can go unseen (on this machine no tracepoint fires in the context of
// the threads of PID 1, so the switch from one of them back to a traced
// thread is missing), and the kernel's account stays right regardless. When
// a switch-in was missed, the off-CPU stretch and run-queue wait that ended
// then are what remains of the time since the switch-out once the on-CPU
// time is taken off.
//
// Off-CPU stretches start at a switch-out that passed the filter (or at the
// creation of a thread, sched_wakeup_new), so the stretch a thread is in when
// tracing starts, and the one it is in when tracing stops, are not counted.
//
// Bounded maps. thread_state is task storage, one record per live thread that
// is traced (or newly created and not yet judged by the filter): a thread's
// record is deleted at its final switch-out (prev_state TASK_DEAD), or as soon
// as it leaves a CPU without passing the filter, and the kernel frees it with
// the task in any case. sched_stats is an LRU hash: a new
// process always gets a slot, and when the map is full the entry updated
// least recently (typically of a process that exited long ago) is evicted,
// instead of every later process going uncounted. An exited process's entry
// is kept rather than deleted, so that user space reads a short-lived
// process's figures at least once. Inserts and failed inserts are counted
// (ebpfrun_maps.h).
//
// RUNQ_ONLY=1 (--runq-only) keeps the run-queue latency histogram alone, the
// job of libbpf-tools' runqlat: per thread only when it became runnable and
// the wait that ended at its last switch-in, in the same task storage; no
// CPU times, no per-process rows, no exit program. The filter is applied as
// above: a wait is added to the histogram when its thread next leaves the
// CPU under the filter (or at its final switch-out).
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "ebpfrun.h"
#include "ebpfrun_maps.h"

#define TASK_RUNNING 0
#define TASK_DEAD    0x80
#define HIST_BUCKETS 64

// A traced thread between commits.
struct thread_state {
    __u64 cpu_ns;       // sum_exec_runtime at the last commit
    __u64 off_since;    // switched out at (0: on a CPU, as far as we know)
    __u64 woken;        // runnable since (0: sleeping)
    __u64 pending_off;  // the off-CPU stretch that ended at the last switch-in
    __u64 pending_runq; // the run-queue wait that ended then
    __u32 pending_wait; // pending_runq holds a wait
    __u32 pad;
};

// The thread last switched in on this CPU and its CPU time then: the start
// of the on-CPU count of a thread seen for the first time.
struct on_cpu {
    __u32 tid;
    __u32 pad;
    __u64 cpu_ns;
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

// Per-thread state in task storage: found from the task pointer the
// tracepoints pass (no hash of thread ids), and freed with the task.
struct {
    __uint(type, BPF_MAP_TYPE_TASK_STORAGE);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, int);
    __type(value, struct thread_state);
} thread_state SEC(".maps");

#ifndef RUNQ_ONLY
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct on_cpu);
} running SEC(".maps");

EBPFRUN_COUNTED_MAP(sched_stats, BPF_MAP_TYPE_LRU_HASH, __u32, struct sched_stats,
                    EBPFRUN_MAP_SIZE(16384));
#endif

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
    if (v >> 32) {
        v >>= 32;
        n += 32;
    }
    if (v >> 16) {
        v >>= 16;
        n += 16;
    }
    if (v >> 8) {
        v >>= 8;
        n += 8;
    }
    if (v >> 4) {
        v >>= 4;
        n += 4;
    }
    if (v >> 2) {
        v >>= 2;
        n += 2;
    }
    if (v >> 1) {
        v >>= 1;
        n += 1;
    }
    return n + (__u32)v;
}

// 1 when the current task passes the filter; the filled-in placeholder
// returns 0 otherwise.
static __always_inline int current_passes_filter(void)
{
    /*FILTER*/
    return 1;
}

#ifndef RUNQ_ONLY
static __always_inline struct sched_stats *stats_of(__u32 pid)
{
    struct sched_stats *stats = bpf_map_lookup_elem(&sched_stats, &pid);
    if (stats)
        return stats;
    struct sched_stats fresh = {};
    EBPFRUN_INSERT(sched_stats, &pid, &fresh, BPF_NOEXIST);
    return bpf_map_lookup_elem(&sched_stats, &pid);
}
#endif

static __always_inline void count_wait_in_hist(__u64 ns)
{
    __u32 bucket = bit_length(ns / 1000);
    if (bucket >= HIST_BUCKETS)
        bucket = HIST_BUCKETS - 1;
    __u64 *count = bpf_map_lookup_elem(&runq_hist, &bucket);
    if (count)
        __sync_fetch_and_add(count, 1);
}

#ifndef RUNQ_ONLY
static __always_inline void count_wait(struct sched_stats *stats, __u64 ns)
{
    __sync_fetch_and_add(&stats->runq_ns, ns);
    __sync_fetch_and_add(&stats->runq_waits, 1);
    count_wait_in_hist(ns);
}

// Commits what is known about `task`, the current task, which passed the
// filter. switched_out: it is leaving the CPU now (else it is exiting and
// runs a little longer); runnable: it stays runnable (preempted); dead: it
// will never run again.
static __always_inline void commit_current(struct task_struct *task, __u64 now, bool switched_out,
                                           bool runnable, bool dead)
{
    __u32 tid = task->pid;
    __u64 cpu_ns = task->se.sum_exec_runtime;
    struct sched_stats *stats = stats_of(task->tgid);
    if (!stats)
        return;
    ebpfrun_refresh_comm(stats->comm, task);

    struct thread_state *state = bpf_task_storage_get(&thread_state, task, 0, 0);
    __u64 on = 0;
    if (state) {
        on = cpu_ns - state->cpu_ns;
        if (state->off_since) {
            // The switch-in went unseen; see the top of the file.
            __u64 span = now - state->off_since;
            state->pending_off = span > on ? span - on : 0;
            if (state->woken) {
                span = now - state->woken;
                state->pending_runq = span > on ? span - on : 0;
                state->pending_wait = 1;
            }
        }
        __sync_fetch_and_add(&stats->off_ns, state->pending_off);
        if (state->pending_wait)
            count_wait(stats, state->pending_runq);
    } else {
        // First seen: counted from its switch-in, if that was seen.
        __u32 zero = 0;
        struct on_cpu *slot = bpf_map_lookup_elem(&running, &zero);
        if (slot && slot->tid == tid)
            on = cpu_ns - slot->cpu_ns;
    }
    __sync_fetch_and_add(&stats->on_ns, on);
    if (switched_out) {
        __sync_fetch_and_add(&stats->switches, 1);
        if (runnable)
            __sync_fetch_and_add(&stats->involuntary, 1);
    }
    if (dead) {
        bpf_task_storage_delete(&thread_state, task);
        return;
    }
    // An existing record is rewritten in place rather than replaced: a map
    // update allocates a new element and frees the old one, on every switch.
    // The thread cannot be switched in on another CPU before this switch-out
    // completes, so its switch-in never sees the record half-written.
    __u64 off_since = switched_out ? now : 0;
    __u64 woken = switched_out && runnable ? now : 0;
    if (state) {
        state->cpu_ns = cpu_ns;
        state->off_since = off_since;
        state->woken = woken;
        state->pending_off = 0;
        state->pending_runq = 0;
        state->pending_wait = 0;
        return;
    }
    state = bpf_task_storage_get(&thread_state, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
    if (state) {
        state->cpu_ns = cpu_ns;
        state->off_since = off_since;
        state->woken = woken;
    }
}

SEC("tp_btf/sched_switch")
int BPF_PROG(scheduler_switch, bool preempt, struct task_struct *prev, struct task_struct *next,
             unsigned int prev_state)
{
    __u64 now = bpf_ktime_get_ns();
    __u32 prev_tid = prev->pid;
    // Thread id 0 is a CPU's idle task, not a process.
    if (prev_tid != 0) {
        if (current_passes_filter())
            commit_current(prev, now, true, preempt || prev_state == TASK_RUNNING,
                           prev_state & TASK_DEAD);
        else
            bpf_task_storage_delete(&thread_state, prev);
    }

    __u32 tid = next->pid;
    __u32 zero = 0;
    struct on_cpu *slot = bpf_map_lookup_elem(&running, &zero);
    if (slot) {
        slot->tid = tid;
        slot->cpu_ns = next->se.sum_exec_runtime;
    }
    // The end of an off-CPU stretch, to be committed (or dropped) under the
    // filter when the thread next leaves the CPU.
    struct thread_state *state = bpf_task_storage_get(&thread_state, next, 0, 0);
    if (state && state->off_since) {
        state->pending_off = now - state->off_since;
        state->pending_wait = state->woken != 0;
        state->pending_runq = state->woken ? now - state->woken : 0;
        state->off_since = 0;
        state->woken = 0;
    }
    return 0;
}

// An exiting thread's time is committed here, while its parent may still be
// unaware of the exit: the parent (ebpfrun -c, say) can reap it and read the
// maps before the thread's final switch-out, which then adds only the time
// of the exit itself (and sum_exec_runtime's lag, at most a scheduler tick).
SEC("tp_btf/sched_process_exit")
int BPF_PROG(scheduler_exit, struct task_struct *task)
{
    if (current_passes_filter())
        commit_current(task, bpf_ktime_get_ns(), false, false, false);
    return 0;
}

#else // RUNQ_ONLY

// thread_state's off_since, woken, pending_runq and pending_wait only; a
// thread has a record from its first switch-out under the filter (or its
// creation) on.
SEC("tp_btf/sched_switch")
int BPF_PROG(scheduler_switch, bool preempt, struct task_struct *prev, struct task_struct *next,
             unsigned int prev_state)
{
    __u64 now = bpf_ktime_get_ns();
    // Thread id 0 is a CPU's idle task, not a process.
    if (prev->pid != 0) {
        struct thread_state *state = bpf_task_storage_get(&thread_state, prev, 0, 0);
        int passes = current_passes_filter();
        if (passes && state && state->pending_wait)
            count_wait_in_hist(state->pending_runq);
        if (!passes || (prev_state & TASK_DEAD)) {
            if (state)
                bpf_task_storage_delete(&thread_state, prev);
        } else {
            if (!state)
                state =
                    bpf_task_storage_get(&thread_state, prev, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
            if (state) {
                // Still runnable (preempted, yielding): waiting on a run queue from now.
                state->off_since = now;
                state->woken = preempt || prev_state == TASK_RUNNING ? now : 0;
                state->pending_wait = 0;
            }
        }
    }
    struct thread_state *state = bpf_task_storage_get(&thread_state, next, 0, 0);
    if (state && state->off_since) {
        state->pending_wait = state->woken != 0;
        state->pending_runq = state->woken ? now - state->woken : 0;
        state->off_since = 0;
        state->woken = 0;
    }
    return 0;
}

#endif // RUNQ_ONLY

// Only threads with state (ones that passed the filter when they left the
// CPU) are of interest; the first wakeup ends their sleep.
SEC("tp_btf/sched_wakeup")
int BPF_PROG(scheduler_wakeup, struct task_struct *task)
{
    struct thread_state *state = bpf_task_storage_get(&thread_state, task, 0, 0);
    if (state && state->off_since && !state->woken)
        state->woken = bpf_ktime_get_ns();
    return 0;
}

// A new thread is runnable from its creation on and has used no CPU time.
// Its state is made here for every new thread and kept (or dropped) under
// the filter when it first leaves the CPU.
SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(scheduler_wakeup_new, struct task_struct *task)
{
    __u64 now = bpf_ktime_get_ns();
    struct thread_state *state =
        bpf_task_storage_get(&thread_state, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
    if (state) {
        *state = (struct thread_state){
            .cpu_ns = task->se.sum_exec_runtime, .off_since = now, .woken = now};
    }
    return 0;
}

char LICENSE[] SEC("license") = "GPL";

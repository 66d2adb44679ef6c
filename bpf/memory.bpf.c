// memory collector: page faults, resident set size and OOM kills per process.
//
// Page faults come from exceptions/page_fault_user (a fault taken in user
// mode) and exceptions/page_fault_kernel (taken in kernel mode on a user
// address, e.g. while copying a read() into a buffer not yet touched), as
// BTF-typed raw tracepoints (tp_btf: no trace record is built, and the
// program reads the current task directly). Both fire in the context of the
// faulting task, which is what the filter tests.
//
// RSS comes from kmem/rss_stat, which fires whenever one of an mm's counters
// (file, anon, swap entries, shmem pages) changes and carries that counter's
// new value in bytes. `curr` says whether the mm is the current task's; the
// filter tests the current task, so the RSS of a process is followed while
// it runs and when it frees its memory at exit or exec (its own context, but
// curr = 0 by then: see memory_rss). Changes made in other contexts (page
// reclaim by kswapd, the last reference to an mm dropped by someone else) are
// not seen until the process's next own change of that counter.

// OOM kills come from oom/mark_victim. It fires in the context of the task
// whose allocation ran the OOM killer, so that is the task the filter tests;
// the kill is counted for the victim (its pid and comm are in the event). In
// a memory cgroup (e.g. -c CMD under a memory limit) the two share the cgroup.
//
// Bounded maps. mem_stats is an LRU hash: a new process always gets a slot,
// and when the map is full the entry updated least recently (typically of a
// process that exited long ago) is evicted, instead of every later process
// going uncounted. An exited process's entry is kept rather than deleted at
// exit, so that user space reads a short-lived process's figures at least
// once; there is no per-thread state, and no map of mms: the mm a process
// was last seen with is kept in its own entry. Inserts and failed inserts
// are counted (ebpfrun_maps.h).
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "ebpfrun.h"
#include "ebpfrun_maps.h"

// enum mm_counter (include/linux/mm_types_task.h); rss_stat's `member`.
#define MM_FILEPAGES  0
#define MM_ANONPAGES  1
#define MM_SWAPENTS   2
#define MM_SHMEMPAGES 3
#define MM_COUNTERS   4
// The counters count pages; 4 KiB on x86-64 (and arm64's default).
#define PAGE_BYTES 4096

struct mem_stats {
    __u64 user_faults;
    __u64 kernel_faults;
    __s64 rss[MM_COUNTERS]; // bytes, by enum mm_counter
    __u64 rss_peak;         // the largest file + anon + shmem seen
    __u64 oom_kills;
    __u32 rss_known; // rss[] holds values (else nothing was seen yet)
    __u32 mm_id;     // rss_stat's id of the mm last seen as the process's own
    char comm[16];
};

EBPFRUN_COUNTED_MAP(mem_stats, BPF_MAP_TYPE_LRU_HASH, __u32, struct mem_stats,
                    EBPFRUN_MAP_SIZE(16384));

static __always_inline struct mem_stats *stats_of(__u32 pid)
{
    struct mem_stats *stats = bpf_map_lookup_elem(&mem_stats, &pid);
    if (stats)
        return stats;
    struct mem_stats fresh = {};
    EBPFRUN_INSERT(mem_stats, &pid, &fresh, BPF_NOEXIST);
    return bpf_map_lookup_elem(&mem_stats, &pid);
}

// The faults run as BTF-typed raw tracepoints (tp_btf): the kernel builds no
// trace record for them, and the current task is read directly.
SEC("tp_btf/page_fault_user")
int memory_fault_user(__u64 *ctx)
{
    /*FILTER*/
    struct task_struct *task = bpf_get_current_task_btf();
    struct mem_stats *stats = stats_of(task->tgid);
    if (!stats)
        return 0;
    __sync_fetch_and_add(&stats->user_faults, 1);
    ebpfrun_refresh_comm(stats->comm, task);
    return 0;
}

SEC("tp_btf/page_fault_kernel")
int memory_fault_kernel(__u64 *ctx)
{
    /*FILTER*/
    struct task_struct *task = bpf_get_current_task_btf();
    struct mem_stats *stats = stats_of(task->tgid);
    if (!stats)
        return 0;
    __sync_fetch_and_add(&stats->kernel_faults, 1);
    ebpfrun_refresh_comm(stats->comm, task);
    return 0;
}

static __always_inline void set_rss(struct mem_stats *stats, int member, long size)
{
    if (member < 0 || member >= MM_COUNTERS)
        return;
    stats->rss[member] = size;
    __u64 rss = stats->rss[MM_FILEPAGES] + stats->rss[MM_ANONPAGES] + stats->rss[MM_SHMEMPAGES];
    if (rss > stats->rss_peak)
        stats->rss_peak = rss;
}

// Linux 6.2 made mm->rss_stat an array of struct percpu_counter (whose
// `count` is the central value); before that (6.1) it was a struct
// mm_rss_stat of atomic_long_t. This flavor describes the old layout for
// CO-RE, and bpf_core_field_exists() on it tells which one the running kernel
// has. The old struct is anonymous here on purpose: a relocation that names a
// type the kernel lacks (struct mm_rss_stat, on 6.2 and later) makes libbpf
// search every module's BTF for it, which takes CAP_SYS_ADMIN (the agent
// drops it) and parses all that BTF; through mm_struct, only types the
// kernel has are looked up. Each layout is read in a function of its own:
// inline, clang merges the two reads into one whose unresolvable relocation
// the verifier then meets.
struct mm_struct___old {
    struct {
        atomic_long_t count[MM_COUNTERS];
    } rss_stat;
} __attribute__((preserve_access_index));

static __noinline __s64 rss_pages_old(struct mm_struct___old *mm, int i)
{
    return BPF_CORE_READ(mm, rss_stat.count[i].counter);
}

static __noinline __s64 rss_pages(struct mm_struct *mm, int i)
{
    return BPF_CORE_READ(mm, rss_stat[i].count);
}

// rss_stat reports only the counter that changed. So that a process that was
// running before tracing began does not show, say, its anonymous pages
// alone, all counters are read from its mm when it is first seen. These are
// the counters' central values, which lag the per-CPU parts by up to a batch
// (a few dozen pages) per CPU; every later event carries an exact value.
static __always_inline void init_rss(struct mem_stats *stats, struct task_struct *task)
{
    struct mm_struct *mm = BPF_CORE_READ(task, mm);
    if (!mm)
        return;
    for (int i = 0; i < MM_COUNTERS; i++) {
        __s64 pages = bpf_core_field_exists(((struct mm_struct___old *)0)->rss_stat.count)
                          ? rss_pages_old((struct mm_struct___old *)mm, i)
                          : rss_pages(mm, i);
        stats->rss[i] = pages > 0 ? pages * PAGE_BYTES : 0;
    }
    stats->rss_known = 1;
}

// curr = 0 events are counted only when the mm is the one last seen as the
// current process's own (mem_stats.mm_id): then it is that process's old mm
// being torn down (at exit, or by exec). A hashed mm_id is reused as soon as
// its mm is freed, and the next user is typically a fork child whose pages
// its parent copies (curr = 0, current = the parent): the parent's own mm_id
// is another, and the event is rightly ignored.
//
// This stays a classic tracepoint: its record carries the counter's exact
// value (the sum over the per-CPU parts), which a BTF-typed program would
// have to compute itself. The mm_id is written only when it changed, so an
// event costs one lookup of the process's entry.
SEC("tracepoint/kmem/rss_stat")
int memory_rss(struct trace_event_raw_rss_stat *ctx)
{
    /*FILTER*/
    struct task_struct *task = bpf_get_current_task_btf();
    __u32 pid = task->tgid;
    __u32 mm_id = ctx->mm_id;
    struct mem_stats *stats;
    if (ctx->curr) {
        stats = stats_of(pid);
        if (!stats)
            return 0;
        if (stats->mm_id != mm_id)
            stats->mm_id = mm_id;
        if (!stats->rss_known)
            init_rss(stats, task);
    } else {
        stats = bpf_map_lookup_elem(&mem_stats, &pid);
        if (!stats || !stats->rss_known || stats->mm_id != mm_id)
            return 0;
    }
    ebpfrun_refresh_comm(stats->comm, task);
    set_rss(stats, ctx->member, ctx->size);
    return 0;
}

// tp_btf rather than the tracepoint's own record because the record has the
// victim's thread id, and the victim may be any thread of the process.
SEC("tp_btf/mark_victim")
int BPF_PROG(memory_oom_victim, struct task_struct *victim, uid_t uid)
{
    /*FILTER*/
    struct mem_stats *stats = stats_of(victim->tgid);
    if (!stats)
        return 0;
    __sync_fetch_and_add(&stats->oom_kills, 1);
    bpf_probe_read_kernel_str(stats->comm, sizeof(stats->comm), victim->comm);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";

// tcpstate collector: TCP state transitions (from -> to) per process and
// service port, with the time sockets spent in the state they left, from the
// sock/inet_sock_set_state tracepoint (no kprobes).
//
// Filtering: transitions happen in softirq context as often as in the
// owning process, so the filter is not applied to the current task at the
// top of the program. It is applied where a process acts on its own socket
// (connect, listen, accept, close), and the owner found there is remembered
// per socket; see tcp_owner.h.
//
// Rows: a (process, port, from, to) key holds a slot of transition_slots, an
// array indexed by a hash of the key, when that slot is free or already the
// key's, and counts per CPU at the same index of transition_counts; else it
// counts in the LRU hash transitions. A transition thus reaches its row, like
// its socket's owner (tcp_owner.h), with array lookups that the verifier
// inlines (6.1 calls a helper for the per-CPU one), and no hash lookup in the
// common case; user space adds up both (scripts/tcpstate.lua).
//
// Bounded maps. A key that finds its slot taken by another always gets an
// entry in transitions, an LRU hash: when it is full the entry updated least
// recently (typically of a process that exited long ago) is evicted, instead
// of every later process going uncounted. An exited process's rows are kept
// rather than deleted, so that user space reads a short-lived process's
// counts at least once; the agent frees them afterwards, slots included
// (stdlib/ebpf/exited.lua). The per-socket maps of tcp_owner.h drop a socket
// when it reaches CLOSE. Inserts and failed inserts into the hash are counted
// (ebpfrun_maps.h).
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "ebpfrun_maps.h"

// The standard filters, on the current task: 1 when it passes.
static __always_inline int current_passes_filter(void)
{
    /*FILTER*/
    return 1;
}

// 1 when a filter was given: the placeholder then holds code, and the text
// it expands to is not empty (an unfilled placeholder is just a comment).
#define TCPSTATE_TEXT_(...) #__VA_ARGS__
#define TCPSTATE_TEXT(...)  TCPSTATE_TEXT_(__VA_ARGS__)
#define FILTER_ACTIVE       (sizeof(TCPSTATE_TEXT(/*FILTER*/)) > 1)

#include "tcp_owner.h"

struct transition_key {
    __u32 pid;
    __u16 port;
    __u8 from;
    __u8 to;
};

// The transitions are untimed + timed: a transition adds to one of the two,
// one atomic add fewer than a total beside them.
struct transition_stats {
    __u64 untimed;  // transitions whose time in the old state is not known
    __u64 timed;    // transitions whose time in the old state is known
    __u64 total_ns; // time spent in the old state by those
    char comm[16];
};

EBPFRUN_COUNTED_MAP(transitions, BPF_MAP_TYPE_LRU_HASH, struct transition_key,
                    struct transition_stats, EBPFRUN_MAP_SIZE(16384));

// A key that holds a slot: the key (all zero: a free slot, as no state is
// 0) and the comm. Flat, so that user space finds the pid in the value.
struct transition_slot {
    __u32 pid;
    __u16 port;
    __u8 from;
    __u8 to;
    char comm[16];
};

// The counts of the key in the slot of the same index, per CPU.
struct transition_counts {
    __u64 untimed;
    __u64 timed;
    __u64 total_ns;
};

// At most as many slots as the hash has entries (--max-entries), at most
// 2048: the counts take 24 bytes per slot and CPU.
#define TRANSITION_SLOTS_MAX 2048
#define TRANSITION_SLOTS                                                                           \
    (EBPFRUN_MAP_SIZE(16384) < TRANSITION_SLOTS_MAX ? EBPFRUN_MAP_SIZE(16384)                      \
                                                    : TRANSITION_SLOTS_MAX)

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, TRANSITION_SLOTS);
    __type(key, __u32);
    __type(value, struct transition_slot);
} transition_slots SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, TRANSITION_SLOTS);
    __type(key, __u32);
    __type(value, struct transition_counts);
} transition_counts SEC(".maps");

// Counts one transition of key, timed when since_ns is known: in the key's
// slot, or in its entry of the hash when another key holds the slot. The
// key, 8 bytes, is compared and claimed as one word; the slot's counts are
// this CPU's, added to without atomics: this program does not nest on a CPU
// (the kernel skips a tracing program that would) and no other program
// writes them.
static __always_inline void transition_count(const struct transition_key *key, const char *comm,
                                             __u64 since_ns, __u64 now)
{
    __u64 tag;
    __builtin_memcpy(&tag, key, sizeof(tag));
    // Fibonacci hashing, reduced to the slot count by a multiply and shift
    // (the count need not be a power of 2).
    __u32 index = (__u32)((((tag * 0x9E3779B97F4A7C15ULL) >> 32) * TRANSITION_SLOTS) >> 32);
    struct transition_slot *slot = bpf_map_lookup_elem(&transition_slots, &index);
    if (slot) {
        __u64 *held = (__u64 *)slot;
        int mine = *held == tag;
        if (!mine && *held == 0) {
            // Another CPU may claim it first, for this key or another.
            __u64 was = __sync_val_compare_and_swap(held, 0, tag);
            if (was == 0)
                __builtin_memcpy(slot->comm, comm, sizeof(slot->comm));
            mine = was == 0 || was == tag;
        }
        struct transition_counts *counts =
            mine ? bpf_map_lookup_elem(&transition_counts, &index) : NULL;
        if (counts) {
            if (since_ns) {
                counts->timed += 1;
                counts->total_ns += now - since_ns;
            } else {
                counts->untimed += 1;
            }
            return;
        }
        if (mine)
            return;
    }
    struct transition_stats *stats = bpf_map_lookup_elem(&transitions, key);
    if (!stats) {
        struct transition_stats fresh = {};
        __builtin_memcpy(fresh.comm, comm, sizeof(fresh.comm));
        EBPFRUN_INSERT(transitions, key, &fresh, BPF_NOEXIST);
        stats = bpf_map_lookup_elem(&transitions, key);
    }
    if (!stats)
        return;
    if (since_ns) {
        __sync_fetch_and_add(&stats->timed, 1);
        __sync_fetch_and_add(&stats->total_ns, now - since_ns);
    } else {
        __sync_fetch_and_add(&stats->untimed, 1);
    }
}

SEC("tracepoint/sock/inet_sock_set_state")
int tcpstate_transition(struct trace_event_raw_inet_sock_set_state *ctx)
{
    if (ctx->protocol != IPPROTO_TCP)
        return 0;
    __u64 now = bpf_ktime_get_ns();
    struct tcp_owner *o = tcp_owner_track(ctx, now);
    if (!o)
        return 0;
    if (tcp_owner_visible(o)) {
        struct transition_key key = {
            .pid = o->pid, .port = o->port, .from = (__u8)ctx->oldstate, .to = (__u8)ctx->newstate};
        transition_count(&key, o->comm, o->since_ns, now);
    }
    tcp_owner_advance(ctx, o, now);
    return 0;
}

// accept() names the owner of connections whose listener predates the
// tracer, for their later transitions and for the listener's next children.
// One program serves the exits of accept4() and accept(), whose records have
// the same layout: scripts/tcpstate.lua also attaches it at sys_exit_accept,
// so that it is loaded and verified once.
SEC("tracepoint/syscalls/sys_exit_accept4")
int tcpstate_accept(struct trace_event_raw_sys_exit *ctx)
{
    struct tcp_owner *o;
    tcp_owner_accept_fd(ctx->ret, &o);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";

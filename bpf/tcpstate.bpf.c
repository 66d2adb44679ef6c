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
// Bounded maps. transitions is an LRU hash: a new (process, port, from, to)
// always gets a slot, and when the map is full the entry updated least
// recently (typically of a process that exited long ago) is evicted, instead
// of every later process going uncounted. An exited process's entries are
// kept rather than deleted, so that user space reads a short-lived process's
// counts at least once. The per-socket maps of tcp_owner.h are LRU and drop
// a socket when it reaches CLOSE. Inserts and failed inserts are counted
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

struct transition_stats {
    __u64 count;
    __u64 timed;    // transitions whose time in the old state is known
    __u64 total_ns; // time spent in the old state by those
    char comm[16];
};

EBPFRUN_COUNTED_MAP(transitions, BPF_MAP_TYPE_LRU_HASH, struct transition_key,
                    struct transition_stats, EBPFRUN_MAP_SIZE(16384));

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
        struct transition_stats *stats = bpf_map_lookup_elem(&transitions, &key);
        if (!stats) {
            struct transition_stats fresh = {};
            __builtin_memcpy(fresh.comm, o->comm, sizeof(fresh.comm));
            EBPFRUN_INSERT(transitions, &key, &fresh, BPF_NOEXIST);
            stats = bpf_map_lookup_elem(&transitions, &key);
        }
        if (stats) {
            __sync_fetch_and_add(&stats->count, 1);
            if (o->since_ns) {
                __sync_fetch_and_add(&stats->timed, 1);
                __sync_fetch_and_add(&stats->total_ns, now - o->since_ns);
            }
        }
    }
    tcp_owner_advance(ctx, o, now);
    return 0;
}

// accept() names the owner of connections whose listener predates the
// tracer, for their later transitions and for the listener's next children.
SEC("tracepoint/syscalls/sys_exit_accept4")
int tcpstate_accept4(struct trace_event_raw_sys_exit *ctx)
{
    struct tcp_owner *o;
    tcp_owner_accept_fd(ctx->ret, &o);
    return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept")
int tcpstate_accept(struct trace_event_raw_sys_exit *ctx)
{
    struct tcp_owner *o;
    tcp_owner_accept_fd(ctx->ret, &o);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";

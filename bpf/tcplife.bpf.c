// TCP connection events for scripts/tcpconnect.lua, tcpaccept.lua and
// tcpclose.lua, from tracepoints, and for accepts from one of two attach
// paths (the tools load one: stdlib/ebpf/tool.lua's paths):
//   connect  a connect() that completed (SYN_SENT -> ESTABLISHED) or failed
//            (SYN_SENT -> CLOSE, with the socket's error), with its latency;
//   accept   an accept returning a TCP socket: where the kernel allows
//            fentry, fexit on inet_csk_accept, which hands over the socket
//            (io_uring accepts included, and no syscall tracepoint slowing
//            every system call); else the exit of accept()/accept4(), whose
//            new descriptor is followed to its socket;
//   close    an established connection reaching CLOSE, with the bytes it
//            sent and received and its duration.
// -DTCP_EVENTS=<mask of EVENT_*> selects the events a tool wants.
//
// Filtering: state changes happen in softirq context as often as in the
// owning process, so the filter is applied where a process acts on its own
// socket (connect, listen, accept, close) and the owner is remembered per
// socket; see tcp_owner.h. Events are reported for that owner.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "ebpfrun_events.h"

#define EVENT_CONNECT 1
#define EVENT_ACCEPT  2
#define EVENT_CLOSE   4
#ifndef TCP_EVENTS
#define TCP_EVENTS (EVENT_CONNECT | EVENT_ACCEPT | EVENT_CLOSE)
#endif

// The standard filters, on the current task: 1 when it passes.
static __always_inline int current_passes_filter(void)
{
    /*FILTER*/
    return 1;
}

// 1 when a filter was given: the placeholder then holds code, and the text
// it expands to is not empty (an unfilled placeholder is just a comment).
#define TCPLIFE_TEXT_(...) #__VA_ARGS__
#define TCPLIFE_TEXT(...)  TCPLIFE_TEXT_(__VA_ARGS__)
#define FILTER_ACTIVE      (sizeof(TCPLIFE_TEXT(/*FILTER*/)) > 1)

#include "tcp_owner.h"

struct tcp_event {
    __u64 ts_ns;       // bpf_ktime_get_ns(): CLOCK_MONOTONIC
    __u64 duration_ns; // connect: SYN_SENT until the outcome; close: the connection's life (0:
                       // unknown)
    __u64 tx_bytes;    // close: payload bytes sent (retransmissions not counted again)
    __u64 rx_bytes;    // close: payload bytes received
    __u32 pid;
    __s32 error;  // connect: the socket's error when it failed (0 when none was set)
    __u16 family; // AF_INET or AF_INET6
    __u16 lport;
    __u16 rport;
    __u8 kind;      // EVENT_CONNECT, EVENT_ACCEPT or EVENT_CLOSE
    __u8 state;     // connect: the state reached; close: the state closed from
    __u8 laddr[16]; // IPv4 addresses use the first 4 bytes
    __u8 raddr[16];
    char comm[16];
};

EBPFRUN_RINGBUF_WITH_DROPS(events, 1 << 18);

static __always_inline struct tcp_event *new_event(__u8 kind, const struct tcp_owner *o, __u64 now)
{
    struct tcp_event *e = EBPFRUN_RESERVE(events, sizeof(*e));
    if (!e)
        return NULL;
    __builtin_memset(e, 0, sizeof(*e));
    e->kind = kind;
    e->ts_ns = now;
    e->pid = o->pid;
    __builtin_memcpy(e->comm, o->comm, sizeof(e->comm));
    return e;
}

// Addresses and ports as the state-change tracepoint reports them. Copied
// with a helper: the verifier refuses loads through a pointer computed from
// the context, which is what clang can make of a memcpy from it.
static __always_inline void addresses_from_state(struct tcp_event *e,
                                                 struct trace_event_raw_inet_sock_set_state *ctx)
{
    __u16 family = ctx->family;
    e->family = family;
    e->lport = ctx->sport;
    e->rport = ctx->dport;
    if (family == TCP_OWNER_AF_INET) {
        bpf_probe_read_kernel(e->laddr, 4, ctx->saddr);
        bpf_probe_read_kernel(e->raddr, 4, ctx->daddr);
    } else {
        bpf_probe_read_kernel(e->laddr, 16, ctx->saddr_v6);
        bpf_probe_read_kernel(e->raddr, 16, ctx->daddr_v6);
    }
}

SEC("tracepoint/sock/inet_sock_set_state")
int tcplife_state(struct trace_event_raw_inet_sock_set_state *ctx)
{
    if (ctx->protocol != IPPROTO_TCP)
        return 0;
    __u64 now = bpf_ktime_get_ns();
    struct tcp_owner *o = tcp_owner_track(ctx, now);
    if (!o)
        return 0;
    int oldstate = ctx->oldstate, newstate = ctx->newstate;
    struct sock *sk = (struct sock *)ctx->skaddr;

    if ((TCP_EVENTS & EVENT_CONNECT) && tcp_owner_visible(o) && oldstate == TCP_SYN_SENT &&
        (newstate == TCP_ESTABLISHED || newstate == TCP_CLOSE)) {
        struct tcp_event *e = new_event(EVENT_CONNECT, o, now);
        if (e) {
            addresses_from_state(e, ctx);
            e->state = newstate;
            e->duration_ns = o->since_ns ? now - o->since_ns : 0;
            if (newstate == TCP_CLOSE)
                e->error = BPF_CORE_READ(sk, sk_err);
            bpf_ringbuf_submit(e, 0);
        }
    }

    // Listeners and connections that never got established are not
    // connections that close (tcpconnect reports failed attempts).
    if ((TCP_EVENTS & EVENT_CLOSE) && tcp_owner_visible(o) && newstate == TCP_CLOSE &&
        oldstate != TCP_LISTEN && oldstate != TCP_SYN_SENT && oldstate != TCP_SYN_RECV) {
        struct tcp_event *e = new_event(EVENT_CLOSE, o, now);
        if (e) {
            struct tcp_sock *tp = (struct tcp_sock *)sk;
            addresses_from_state(e, ctx);
            e->state = oldstate;
            e->duration_ns = o->born_ns ? now - o->born_ns : 0;
            // bytes_sent counts payload including retransmissions, which
            // bytes_retrans counts again. bytes_received counts sequence
            // space, where a received FIN takes one: tcp_fin() marks it with
            // SOCK_DONE.
            e->tx_bytes = BPF_CORE_READ(tp, bytes_sent) - BPF_CORE_READ(tp, bytes_retrans);
            e->rx_bytes = BPF_CORE_READ(tp, bytes_received);
            unsigned long flags = BPF_CORE_READ(sk, __sk_common.skc_flags);
            if (e->rx_bytes && (flags & (1UL << bpf_core_enum_value(enum sock_flags, SOCK_DONE))))
                e->rx_bytes -= 1;
            bpf_ringbuf_submit(e, 0);
        }
    }
    tcp_owner_advance(ctx, o, now);
    return 0;
}

#if TCP_EVENTS & (EVENT_ACCEPT | EVENT_CLOSE)
// accept() makes the accepting process the owner (tcpclose reports it) and
// is the accept event.
static __always_inline int on_accepted(struct sock *sk, struct tcp_owner *o)
{
    if (!(TCP_EVENTS & EVENT_ACCEPT) || !sk || !o)
        return 0;
    struct tcp_event *e = new_event(EVENT_ACCEPT, o, bpf_ktime_get_ns());
    if (!e)
        return 0;
    __u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
    e->family = family;
    e->lport = BPF_CORE_READ(sk, __sk_common.skc_num);
    e->rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
    e->state = BPF_CORE_READ(sk, __sk_common.skc_state);
    if (family == TCP_OWNER_AF_INET) {
        BPF_CORE_READ_INTO((__be32 *)e->laddr, sk, __sk_common.skc_rcv_saddr);
        BPF_CORE_READ_INTO((__be32 *)e->raddr, sk, __sk_common.skc_daddr);
    } else {
        BPF_CORE_READ_INTO(&e->laddr, sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
        BPF_CORE_READ_INTO(&e->raddr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
    }
    bpf_ringbuf_submit(e, 0);
    return 0;
}

// The tracepoint path: the new descriptor, at the accept syscalls' exit.
static __always_inline int on_accept(long fd)
{
    struct tcp_owner *o;
    struct sock *sk = tcp_owner_accept_fd(fd, &o);
    return on_accepted(sk, o);
}

// The exits of accept4() and accept(), whose records have the same layout:
// one program, which the tools also attach at sys_exit_accept (ebpf.tool's
// ALSO_ATTACH), so that it is loaded and verified once.
SEC("tracepoint/syscalls/sys_exit_accept4")
int tcplife_accept(struct trace_event_raw_sys_exit *ctx)
{
    return on_accept(ctx->ret);
}

// The fentry path: the socket inet_csk_accept returns, in the accepting
// task. Its arguments changed in 6.10, so the result is read with
// bpf_get_func_ret rather than from a fixed argument position.
SEC("fexit/inet_csk_accept")
int tcplife_fexit_accept(__u64 *ctx)
{
    __u64 ret = 0;
    if (bpf_get_func_ret(ctx, &ret) || !ret || !current_passes_filter())
        return 0;
    struct tcp_owner *o;
    struct sock *sk = tcp_owner_accept_sock((struct sock *)ret, &o);
    return on_accepted(sk, o);
}
#endif

char LICENSE[] SEC("license") = "GPL";

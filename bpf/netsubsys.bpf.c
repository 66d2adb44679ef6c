// netsubsys: the network stack's trouble signs around a process: packets the
// kernel drops (with its drop reason), TCP retransmits, and resets sent and
// received, from tracepoints (skb/kfree_skb, tcp/*).
//
// Whose event is it? Much of the stack runs in softirq context, on whatever
// task the interrupt found: a retransmit timer, or a packet delivered on
// another CPU. So an event that names a socket is given to the socket's
// owner, learned where sockets are used in process context (connect, listen,
// every send and receive); the filter is evaluated there, in the owner's own
// context. An event with no known socket (a packet for a port nobody
// listens on, a reset in reply to it) is given to the current task when that
// task passes the filter: for loopback traffic that is the sender, because
// loopback delivers a packet in the sending task's bottom half. Without a
// filter such events may name an unrelated interrupted task (or pid 0).
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "ebpfrun.h"
#include "ebpfrun_events.h"
#include "tcp_retransmit.h"

#define NET_DROP           1
#define NET_RETRANSMIT     2
#define NET_RESET_SENT     3
#define NET_RESET_RECEIVED 4

#define BY_SOCKET 1 // pid/comm are the socket owner's
#define BY_TASK   2 // pid/comm are the current task's

#define ETH_P_IP_HOST      0x0800
#define ETH_P_IPV6_HOST    0x86DD
#define AF_INET_VALUE      2
#define AF_INET6_VALUE     10
#define TCP_SYN_SENT_STATE 2
#define TCP_LISTEN_STATE   10

// One event. The two reason members use the kernel's enums so that their
// names reach this object's BTF, where the script reads them
// (obj:enum_values): they are always the running kernel's names.
struct net_event {
    __u64 ts_ns;
    __u32 pid;
    __u32 tid;
    __u32 kind;                       // NET_*
    __u32 by;                         // BY_*
    enum skb_drop_reason drop_reason; // NET_DROP
    enum sk_rst_reason rst_reason;    // NET_RESET_SENT
    __s32 state;                      // TCP state, 0 when unknown
    __s32 err;                        // NET_RETRANSMIT: the retransmit's result
    __u16 family;                     // AF_INET, AF_INET6, 0 when unknown
    __u16 protocol;                   // IPPROTO_*, 0 when unknown
    __u16 sport;                      // host byte order
    __u16 dport;
    __u8 saddr[16]; // 4 bytes for AF_INET
    __u8 daddr[16];
    char comm[16];
};

struct owner {
    __u32 pid;
    __u32 matches; // the owner passed the filter
    char comm[16];
};

// Socket address -> owner. LRU: sockets that go without tcp_destroy_sock
// (UDP) age out.
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 65536);
    __type(key, __u64);
    __type(value, struct owner);
} owners SEC(".maps");

// 1 MiB: hundreds of the largest events, thousands of typical ones, while the
// consumer drains it within its 1 ms wakeup window. Each MiB here is two of
// the reader's resident memory (the data area is mapped twice), so it is not
// made larger than that needs.
EBPFRUN_RINGBUF_WITH_DROPS(events, 1 << 20);

static __always_inline bool current_matches(void)
{
    /*FILTER*/
    return true;
}

// Called only where the socket is used in process context.
static __always_inline void remember_owner(const void *sk)
{
    if (!sk)
        return;
    __u64 key = (__u64)sk;
    __u32 pid = ebpfrun_current_pid();
    struct owner *known = bpf_map_lookup_elem(&owners, &key);
    if (known && known->pid == pid)
        return;
    struct owner o = {.pid = pid, .matches = current_matches()};
    bpf_get_current_comm(o.comm, sizeof(o.comm));
    bpf_map_update_elem(&owners, &key, &o, BPF_ANY);
}

// Reserves an event and fills in whose it is; NULL when it is nobody's we
// trace (or the ring buffer is full, which is counted).
/* The TCP tracepoints name their tuple fields alike (family, sport, dport,
 * saddr/daddr, saddr_v6/daddr_v6) in different context structs, so a macro,
 * not a function, copies them for all of them. */
#define COPY_TCP_TUPLE(e, ctx)                                                                     \
    do {                                                                                           \
        (e)->family = (ctx)->family;                                                               \
        (e)->protocol = IPPROTO_TCP;                                                               \
        (e)->sport = (ctx)->sport;                                                                 \
        (e)->dport = (ctx)->dport;                                                                 \
        if ((ctx)->family == AF_INET6_VALUE) {                                                     \
            bpf_probe_read_kernel((e)->saddr, 16, (ctx)->saddr_v6);                                \
            bpf_probe_read_kernel((e)->daddr, 16, (ctx)->daddr_v6);                                \
        } else {                                                                                   \
            bpf_probe_read_kernel((e)->saddr, 4, (ctx)->saddr);                                    \
            bpf_probe_read_kernel((e)->daddr, 4, (ctx)->daddr);                                    \
        }                                                                                          \
    } while (0)

static __always_inline struct net_event *start_event(__u32 kind, const void *sk)
{
    struct owner *o = NULL;
    if (sk) {
        __u64 key = (__u64)sk;
        o = bpf_map_lookup_elem(&owners, &key);
    }
    if (o ? !o->matches : !current_matches())
        return NULL;
    struct net_event *e = EBPFRUN_RESERVE(events, sizeof(*e));
    if (!e)
        return NULL;
    __builtin_memset(e, 0, sizeof(*e));
    e->ts_ns = bpf_ktime_get_ns();
    e->kind = kind;
    if (o) {
        e->by = BY_SOCKET;
        e->pid = o->pid;
        __builtin_memcpy(e->comm, o->comm, sizeof(e->comm));
    } else {
        e->by = BY_TASK;
        e->pid = ebpfrun_current_pid();
        e->tid = ebpfrun_current_tid();
        bpf_get_current_comm(e->comm, sizeof(e->comm));
    }
    return e;
}

SEC("tracepoint/sock/inet_sock_set_state")
int netsubsys_state(struct trace_event_raw_inet_sock_set_state *ctx)
{
    // connect() and listen() make these transitions in the caller's context.
    if (ctx->newstate == TCP_SYN_SENT_STATE || ctx->newstate == TCP_LISTEN_STATE)
        remember_owner(ctx->skaddr);
    return 0;
}

// sock_send_length and sock_recv_length appeared in Linux 6.3: on older
// kernels (6.1) these two programs are not attached (scripts/netsubsys.lua
// makes them optional, with a note), and owners are learned at connect() and
// listen() only. Their first member is read through a plain struct rather
// than the kernel's record, so that the object loads where the record does
// not exist.
struct sock_msg_length_record {
    __u64 common; /* struct trace_entry */
    const void *sk;
};

SEC("tracepoint/sock/sock_send_length")
int netsubsys_send(struct sock_msg_length_record *ctx)
{
    remember_owner(ctx->sk);
    return 0;
}

SEC("tracepoint/sock/sock_recv_length")
int netsubsys_recv(struct sock_msg_length_record *ctx)
{
    remember_owner(ctx->sk);
    return 0;
}

SEC("tracepoint/tcp/tcp_destroy_sock")
int netsubsys_destroy(struct trace_event_raw_tcp_event_sk *ctx)
{
    __u64 key = (__u64)ctx->skaddr;
    bpf_map_delete_elem(&owners, &key);
    return 0;
}

// Addresses and ports of a dropped packet, from its IP header (and the
// TCP/UDP ports after it) where the skb has one.
static __always_inline void packet_addresses(struct net_event *e, struct sk_buff *skb,
                                             __u16 protocol)
{
    unsigned char *head = BPF_CORE_READ(skb, head);
    __u16 network = BPF_CORE_READ(skb, network_header);
    __u16 transport = BPF_CORE_READ(skb, transport_header);
    if (protocol == ETH_P_IP_HOST) {
        struct iphdr ip;
        if (bpf_probe_read_kernel(&ip, sizeof(ip), head + network) || ip.version != 4)
            return;
        e->family = AF_INET_VALUE;
        e->protocol = ip.protocol;
        __builtin_memcpy(e->saddr, &ip.saddr, 4);
        __builtin_memcpy(e->daddr, &ip.daddr, 4);
        if (transport == (__u16)~0U || transport == network)
            transport = network + ip.ihl * 4;
    } else if (protocol == ETH_P_IPV6_HOST) {
        struct ipv6hdr ip6;
        if (bpf_probe_read_kernel(&ip6, sizeof(ip6), head + network) || ip6.version != 6)
            return;
        e->family = AF_INET6_VALUE;
        e->protocol = ip6.nexthdr;
        __builtin_memcpy(e->saddr, &ip6.saddr, 16);
        __builtin_memcpy(e->daddr, &ip6.daddr, 16);
        if (transport == (__u16)~0U || transport == network)
            transport = network + sizeof(ip6);
    } else {
        return;
    }
    if (e->protocol == IPPROTO_TCP || e->protocol == IPPROTO_UDP) {
        __be16 ports[2];
        if (!bpf_probe_read_kernel(ports, sizeof(ports), head + transport)) {
            e->sport = bpf_ntohs(ports[0]);
            e->dport = bpf_ntohs(ports[1]);
        }
    }
}

SEC("tracepoint/skb/kfree_skb")
int netsubsys_drop(struct trace_event_raw_kfree_skb *ctx)
{
    struct sk_buff *skb = ctx->skbaddr;
    // rx_sk (the receiving socket) is recorded since Linux 6.12.
    const void *sk = NULL;
    if (bpf_core_field_exists(ctx->rx_sk))
        sk = ctx->rx_sk;
    if (!sk)
        sk = BPF_CORE_READ(skb, sk);
    struct net_event *e = start_event(NET_DROP, sk);
    if (!e)
        return 0;
    e->drop_reason = ctx->reason;
    packet_addresses(e, skb, ctx->protocol);
    bpf_ringbuf_submit(e, 0);
    return 0;
}

SEC("tracepoint/tcp/tcp_retransmit_skb")
int netsubsys_retransmit(struct tcp_retransmit_record *ctx)
{
    struct net_event *e = start_event(NET_RETRANSMIT, ctx->skaddr);
    if (!e)
        return 0;
    e->state = ctx->state;
    e->err = tcp_retransmit_err(ctx);
    COPY_TCP_TUPLE(e, ctx);
    bpf_ringbuf_submit(e, 0);
    return 0;
}

// saddr/daddr of tcp_send_reset are a struct sockaddr_in or sockaddr_in6;
// without a socket they are the offending packet's, reversed (the reset's
// own direction). Copied out first: the verifier allows no loads through a
// context pointer plus an offset.
static __always_inline void sockaddr_into(const __u8 *field, __u8 *addr, __u16 *port, __u16 *family)
{
    __u8 sa[28];
    if (bpf_probe_read_kernel(sa, sizeof(sa), field))
        return;
    __u16 f = *(__u16 *)sa;
    *family = f;
    *port = bpf_ntohs(*(__be16 *)(sa + 2));
    if (f == AF_INET6_VALUE)
        __builtin_memcpy(addr, sa + 8, 16);
    else
        __builtin_memcpy(addr, sa + 4, 4);
}

// The reset's addresses from the record tcp_send_reset had before 6.10.
static __noinline void reset_tuple_old(struct net_event *e, struct tcp_retransmit_record *rec)
{
    COPY_TCP_TUPLE(e, rec);
}

// Linux 6.10 gave tcp_send_reset a record of its own, with the reset's
// reason and its addresses as sockaddrs, and made it fire also for a reset
// sent without a socket (the reply to a packet for a closed port). Before
// (6.1), it fired for resets of a socket only, with tcp_event_sk_skb's record
// (the layout of struct tcp_retransmit_record) and no reason. The members
// both begin with are read through that plain struct; the rest by CO-RE in
// the branch for the kernel's record, or in a function of its own for the
// old one (so that clang cannot merge the two into one load at a computed
// context offset).
SEC("tracepoint/tcp/tcp_send_reset")
int netsubsys_reset_sent(struct tcp_retransmit_record *rec)
{
    struct net_event *e = start_event(NET_RESET_SENT, rec->skaddr);
    if (!e)
        return 0;
    e->state = rec->skaddr ? rec->state : 0;
    e->protocol = IPPROTO_TCP;
    if (bpf_core_type_exists(struct trace_event_raw_tcp_send_reset)) {
        struct trace_event_raw_tcp_send_reset *ctx = (void *)rec;
        e->rst_reason = ctx->reason;
        sockaddr_into(ctx->saddr, e->saddr, &e->sport, &e->family);
        sockaddr_into(ctx->daddr, e->daddr, &e->dport, &e->family);
    } else {
        reset_tuple_old(e, rec);
    }
    bpf_ringbuf_submit(e, 0);
    return 0;
}

SEC("tracepoint/tcp/tcp_receive_reset")
int netsubsys_reset_received(struct trace_event_raw_tcp_event_sk *ctx)
{
    struct net_event *e = start_event(NET_RESET_RECEIVED, ctx->skaddr);
    if (!e)
        return 0;
    e->state = BPF_CORE_READ((struct sock *)ctx->skaddr, __sk_common.skc_state);
    COPY_TCP_TUPLE(e, ctx);
    bpf_ringbuf_submit(e, 0);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";

// network collector: TCP and UDP bytes and calls sent and received per
// process (and per remote address with -DPER_ADDRESS=1), plus TCP
// retransmits. Bytes come from one of two attach paths (scripts/network.lua
// loads one: stdlib/ebpf/collector.lua's paths), the other's programs are
// not loaded:
//   fentry: fexit/inet_sendmsg, inet6_sendmsg, inet_recvmsg, inet6_recvmsg
//       every sendmsg/recvmsg on an IPv4/IPv6 socket, in the calling
//       process, with the socket, the kernel's msghdr and the result; with
//       PER_ADDRESS the msghdr holds the address a sendto/sendmsg named or
//       a recvfrom/recvmsg filled in, so no syscall probes are needed.
//       Preferred where the kernel allows fentry; on kernels before 6.3,
//       which lack the sock_send_length tracepoint, the only path.
//   tracepoint:
//   sock/sock_send_length, sock/sock_recv_length  every sendmsg/recvmsg on a
//       socket (write, send, sendto, sendmsg, read, recv*, splice alike), in
//       the calling process, with the socket's family, protocol and result
//       (Linux 6.3+); with PER_ADDRESS, the syscalls below for unconnected
//       UDP.
// Common to both:
//   tcp/tcp_retransmit_skb  a retransmitted segment, usually from a timer in
//       softirq context, attributed to the process that last used the socket;
//   sock/inet_sock_set_state  connect() records that owner before any data
//       (a SYN is retransmitted too), CLOSE forgets it.
// With PER_ADDRESS, sockets without a peer (unconnected UDP) take the address
// from the sendto/sendmsg argument, or from what recvfrom/recvmsg filled in
// (read at syscall exit); other calls on them count under an unknown remote.
//
// Bounded maps. traffic is an LRU hash: a new process (or remote) always gets
// a slot, and when the map is full the entry updated least recently
// (typically of a process that exited long ago) is evicted, instead of every
// later process going uncounted. An exited process's entries are kept rather
// than deleted, so that user space reads a short-lived process's counts at
// least once. owners is LRU as well (sockets can vanish unseen); pending
// (PER_ADDRESS) holds one record per thread inside a send/receive call with
// an address, deleted at the call's exit or, for a thread that exits inside
// one, at sched_process_exit. Inserts and failed inserts are counted
// (ebpfrun_maps.h).
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_tracing.h>
#include "ebpfrun_maps.h"
#include "tcp_retransmit.h"

#define AF_INET  2
#define AF_INET6 10
#define MSG_PEEK 2
#define DIR_TX   0
#define DIR_RX   1

// The standard filters, on the current task: 1 when it passes. Every
// program runs in the calling process except the retransmit one, which goes
// by the socket's recorded owner instead.
static __always_inline int current_passes_filter(void)
{
    /*FILTER*/
    return 1;
}

// 1 when a filter was given: the placeholder then holds code, and the text
// it expands to is not empty (an unfilled placeholder is just a comment).
#define NETWORK_TEXT_(...) #__VA_ARGS__
#define NETWORK_TEXT(...)  NETWORK_TEXT_(__VA_ARGS__)
#define FILTER_ACTIVE      (sizeof(NETWORK_TEXT(/*FILTER*/)) > 1)

struct remote {
    __u16 family; // 0: unknown (or not collected)
    __u16 port;   // host byte order
    __u8 addr[16];
};

struct traffic_key {
    __u32 pid;
    __u8 proto;     // IPPROTO_TCP or IPPROTO_UDP
    __u8 direction; // DIR_TX or DIR_RX
    __u16 pad;
    struct remote remote;
};

struct traffic {
    __u64 bytes;
    __u64 calls;
    __u64 retransmits;
    char comm[16];
};

struct owner {
    __u32 pid;
    char comm[16];
};

EBPFRUN_COUNTED_MAP(traffic, BPF_MAP_TYPE_LRU_HASH, struct traffic_key, struct traffic,
                    EBPFRUN_MAP_SIZE(16384));

// The process that last used each TCP socket, for retransmits. LRU: sockets
// that vanish without a CLOSE transition must not fill it up.
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 65536);
    __type(key, __u64);
    __type(value, struct owner);
} owners SEC(".maps");

static __always_inline struct traffic *traffic_entry(struct traffic_key *key, const char *comm)
{
    struct traffic *t = bpf_map_lookup_elem(&traffic, key);
    if (t)
        return t;
    struct traffic fresh = {};
    if (comm)
        __builtin_memcpy(fresh.comm, comm, sizeof(fresh.comm));
    else
        bpf_get_current_comm(fresh.comm, sizeof(fresh.comm));
    EBPFRUN_INSERT(traffic, key, &fresh, BPF_NOEXIST);
    return bpf_map_lookup_elem(&traffic, key);
}

static __always_inline void account(struct traffic_key *key, int bytes)
{
    struct traffic *t = traffic_entry(key, NULL);
    if (!t)
        return;
    __sync_fetch_and_add(&t->bytes, bytes);
    __sync_fetch_and_add(&t->calls, 1);
}

static __always_inline void remember_owner(__u64 sk, __u32 pid)
{
    struct owner *known = bpf_map_lookup_elem(&owners, &sk);
    if (known && known->pid == pid)
        return;
    struct owner o = {.pid = pid};
    bpf_get_current_comm(o.comm, sizeof(o.comm));
    bpf_map_update_elem(&owners, &sk, &o, BPF_ANY);
}

#if PER_ADDRESS
// The peer of a connected socket (TCP, connected UDP); family 0 when none.
static __always_inline void socket_peer(struct sock *sk, struct remote *r)
{
    __u16 port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
    if (!port)
        return;
    __u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
    r->family = family;
    r->port = port;
    if (family == AF_INET) {
        __be32 addr = BPF_CORE_READ(sk, __sk_common.skc_daddr);
        __builtin_memcpy(r->addr, &addr, 4);
    } else {
        BPF_CORE_READ_INTO(&r->addr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
    }
}

// A sockaddr in user memory, as given to sendto/sendmsg or filled in by
// recvfrom/recvmsg, or (kernel != 0) the kernel's copy of it in a msghdr;
// left unknown when it is neither IPv4 nor IPv6.
static __always_inline void read_sockaddr(__u64 addr, int kernel, struct remote *r)
{
    struct sockaddr_in6 sa = {};
    if (kernel ? bpf_probe_read_kernel(&sa, sizeof(struct sockaddr_in), (void *)addr)
               : bpf_probe_read_user(&sa, sizeof(struct sockaddr_in), (void *)addr))
        return;
    if (sa.sin6_family == AF_INET6 && (kernel ? bpf_probe_read_kernel(&sa, sizeof(sa), (void *)addr)
                                              : bpf_probe_read_user(&sa, sizeof(sa), (void *)addr)))
        return;
    if (sa.sin6_family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&sa;
        __builtin_memcpy(r->addr, &sin->sin_addr, 4);
    } else if (sa.sin6_family == AF_INET6) {
        __builtin_memcpy(r->addr, &sa.sin6_addr, 16);
    } else {
        return;
    }
    r->family = sa.sin6_family;
    r->port = bpf_ntohs(sa.sin6_port);
}

// The address argument of the thread's current sendto/sendmsg/recvfrom/
// recvmsg, and the bytes of a receive waiting for that address to be filled.
struct pending {
    __u64 uaddr;
    __u64 bytes;
    __u64 calls;
    __u8 proto;
};

EBPFRUN_COUNTED_MAP(pending, BPF_MAP_TYPE_HASH, __u32, struct pending, 16384);

static __always_inline int syscall_with_address(__u64 uaddr)
{
    if (!uaddr || !current_passes_filter())
        return 0;
    __u32 tid = (__u32)bpf_get_current_pid_tgid();
    struct pending p = {.uaddr = uaddr};
    EBPFRUN_INSERT(pending, &tid, &p, BPF_ANY);
    return 0;
}

static __always_inline int syscall_with_msghdr(__u64 umsg)
{
    struct user_msghdr msg = {};
    if (!umsg || bpf_probe_read_user(&msg, sizeof(msg), (void *)umsg))
        return 0;
    return syscall_with_address((__u64)msg.msg_name);
}

static __always_inline void syscall_address(struct remote *r)
{
    __u32 tid = (__u32)bpf_get_current_pid_tgid();
    struct pending *p = bpf_map_lookup_elem(&pending, &tid);
    if (p)
        read_sockaddr(p->uaddr, 0, r);
}

// A receive on a socket without a peer, inside recvfrom/recvmsg with an
// address buffer: counted at syscall exit, when the kernel has filled it in.
static __always_inline int defer_receive(__u8 proto, int bytes)
{
    __u32 tid = (__u32)bpf_get_current_pid_tgid();
    struct pending *p = bpf_map_lookup_elem(&pending, &tid);
    if (!p)
        return 0;
    p->proto = proto;
    p->bytes += bytes;
    p->calls += 1;
    return 1;
}

static __always_inline int syscall_exit(int receive)
{
    __u32 tid = (__u32)bpf_get_current_pid_tgid();
    struct pending *p = bpf_map_lookup_elem(&pending, &tid);
    if (!p)
        return 0;
    if (receive && p->calls) {
        struct traffic_key key = {
            .pid = bpf_get_current_pid_tgid() >> 32, .proto = p->proto, .direction = DIR_RX};
        read_sockaddr(p->uaddr, 0, &key.remote);
        struct traffic *t = traffic_entry(&key, NULL);
        if (t) {
            __sync_fetch_and_add(&t->bytes, p->bytes);
            __sync_fetch_and_add(&t->calls, p->calls);
        }
    }
    bpf_map_delete_elem(&pending, &tid);
    return 0;
}

SEC("tracepoint/syscalls/sys_enter_sendto")
int network_enter_sendto(struct trace_event_raw_sys_enter *ctx)
{
    return syscall_with_address(ctx->args[4]);
}
SEC("tracepoint/syscalls/sys_enter_recvfrom")
int network_enter_recvfrom(struct trace_event_raw_sys_enter *ctx)
{
    return syscall_with_address(ctx->args[4]);
}
SEC("tracepoint/syscalls/sys_enter_sendmsg")
int network_enter_sendmsg(struct trace_event_raw_sys_enter *ctx)
{
    return syscall_with_msghdr(ctx->args[1]);
}
SEC("tracepoint/syscalls/sys_enter_recvmsg")
int network_enter_recvmsg(struct trace_event_raw_sys_enter *ctx)
{
    return syscall_with_msghdr(ctx->args[1]);
}
SEC("tracepoint/syscalls/sys_exit_sendto")
int network_exit_sendto(void *ctx)
{
    return syscall_exit(0);
}
SEC("tracepoint/syscalls/sys_exit_sendmsg")
int network_exit_sendmsg(void *ctx)
{
    return syscall_exit(0);
}
SEC("tracepoint/syscalls/sys_exit_recvfrom")
int network_exit_recvfrom(void *ctx)
{
    return syscall_exit(1);
}
SEC("tracepoint/syscalls/sys_exit_recvmsg")
int network_exit_recvmsg(void *ctx)
{
    return syscall_exit(1);
}

// A thread that exits inside one of these calls leaves its record behind.
SEC("tracepoint/sched/sched_process_exit")
int network_thread_exit(void *ctx)
{
    __u32 tid = (__u32)bpf_get_current_pid_tgid();
    bpf_map_delete_elem(&pending, &tid);
    return 0;
}
#endif

// One sendmsg/recvmsg of `ret` bytes (or an error) on socket sk; msg is the
// kernel's msghdr on the fentry path, NULL on the tracepoint path.
static __always_inline int on_transfer(void *sk, __u16 family, __u16 protocol, int ret,
                                       __u8 direction, struct msghdr *msg)
{
    if (family != AF_INET && family != AF_INET6)
        return 0;
    if (protocol != IPPROTO_TCP && protocol != IPPROTO_UDP)
        return 0;
    if (ret < 0 || !current_passes_filter())
        return 0;
    __u32 pid = bpf_get_current_pid_tgid() >> 32;
    struct traffic_key key = {.pid = pid, .proto = (__u8)protocol, .direction = direction};
    if (protocol == IPPROTO_TCP)
        remember_owner((__u64)sk, pid);
#if PER_ADDRESS
    socket_peer((struct sock *)sk, &key.remote);
    if (!key.remote.port && protocol == IPPROTO_UDP) {
        if (msg) {
            void *name = BPF_CORE_READ(msg, msg_name);
            if (name)
                read_sockaddr((__u64)name, 1, &key.remote);
        } else if (direction == DIR_TX)
            syscall_address(&key.remote);
        else if (defer_receive(key.proto, ret))
            return 0;
    }
#endif
    account(&key, ret);
    return 0;
}

SEC("tracepoint/sock/sock_send_length")
int network_send(struct trace_event_raw_sock_msg_length *ctx)
{
    return on_transfer(ctx->sk, ctx->family, ctx->protocol, ctx->ret, DIR_TX, NULL);
}

// MSG_PEEK leaves the data queued: it is counted when it is really read.
SEC("tracepoint/sock/sock_recv_length")
int network_receive(struct trace_event_raw_sock_msg_length *ctx)
{
    if (ctx->flags & MSG_PEEK)
        return 0;
    return on_transfer(ctx->sk, ctx->family, ctx->protocol, ctx->ret, DIR_RX, NULL);
}

// The fentry path: the socket layer's IPv4 and IPv6 sendmsg/recvmsg, which
// sock_sendmsg/sock_recvmsg call for every send and receive on such a socket
// (where 6.3+ fires sock_send_length/sock_recv_length). fexit sees the
// result, and the msghdr after recvmsg filled in the sender's address. The
// fields are read through the typed arguments (CO-RE relocated), without a
// helper call each.
static __always_inline int on_socket_call(struct socket *sock, struct msghdr *msg, int ret,
                                          __u8 direction)
{
    struct sock *sk = sock->sk;
    if (!sk)
        return 0;
    return on_transfer(sk, sk->__sk_common.skc_family, sk->sk_protocol, ret, direction, msg);
}

SEC("fexit/inet_sendmsg")
int BPF_PROG(network_fexit_inet_sendmsg, struct socket *sock, struct msghdr *msg, size_t size,
             int ret)
{
    return on_socket_call(sock, msg, ret, DIR_TX);
}

SEC("fexit/inet6_sendmsg")
int BPF_PROG(network_fexit_inet6_sendmsg, struct socket *sock, struct msghdr *msg, size_t size,
             int ret)
{
    return on_socket_call(sock, msg, ret, DIR_TX);
}

// MSG_PEEK leaves the data queued, as on the tracepoint path.
SEC("fexit/inet_recvmsg")
int BPF_PROG(network_fexit_inet_recvmsg, struct socket *sock, struct msghdr *msg, size_t size,
             int flags, int ret)
{
    if (flags & MSG_PEEK)
        return 0;
    return on_socket_call(sock, msg, ret, DIR_RX);
}

SEC("fexit/inet6_recvmsg")
int BPF_PROG(network_fexit_inet6_recvmsg, struct socket *sock, struct msghdr *msg, size_t size,
             int flags, int ret)
{
    if (flags & MSG_PEEK)
        return 0;
    return on_socket_call(sock, msg, ret, DIR_RX);
}

// connect() names the owner before any data moves; CLOSE forgets the socket.
SEC("tracepoint/sock/inet_sock_set_state")
int network_state(struct trace_event_raw_inet_sock_set_state *ctx)
{
    if (ctx->protocol != IPPROTO_TCP)
        return 0;
    __u64 sk = (__u64)ctx->skaddr;
    if (ctx->newstate == TCP_CLOSE)
        bpf_map_delete_elem(&owners, &sk);
    else if (ctx->newstate == TCP_SYN_SENT && current_passes_filter())
        remember_owner(sk, bpf_get_current_pid_tgid() >> 32);
    return 0;
}

// Retransmits count for the socket's recorded owner; a socket never seen
// in use counts under pid 0, and only when no filter is active.
SEC("tracepoint/tcp/tcp_retransmit_skb")
int network_retransmit(struct tcp_retransmit_record *ctx)
{
    __u64 sk = (__u64)ctx->skaddr;
    struct owner *o = bpf_map_lookup_elem(&owners, &sk);
    if (!o && FILTER_ACTIVE)
        return 0;
    struct owner unknown = {};
    if (!o)
        o = &unknown;
    struct traffic_key key = {.pid = o->pid, .proto = IPPROTO_TCP, .direction = DIR_TX};
#if PER_ADDRESS
    __u16 family = ctx->family;
    key.remote.family = family;
    key.remote.port = ctx->dport;
    // Copied with a helper: the verifier refuses loads through a pointer
    // computed from the context, which is what clang makes of a memcpy here.
    if (family == AF_INET)
        bpf_probe_read_kernel(key.remote.addr, 4, ctx->daddr);
    else
        bpf_probe_read_kernel(key.remote.addr, 16, ctx->daddr_v6);
#endif
    struct traffic *t = traffic_entry(&key, o->comm);
    if (t)
        __sync_fetch_and_add(&t->retransmits, 1);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";

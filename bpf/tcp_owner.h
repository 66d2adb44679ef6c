/* tcp_owner.h — which process a TCP socket belongs to, for programs on
 * sock/inet_sock_set_state (bpf/tcpstate.bpf.c, bpf/tcplife.bpf.c).
 *
 * Why: TCP changes a socket's state in softirq context (a SYN-ACK or FIN
 * arrives, a timer fires) as often as in the process that owns it, and in
 * softirq context the current task is whoever happened to be running. On
 * loopback that is usually the peer: a client's connect() runs the server's
 * half of the handshake. So the current task is trusted only at transitions
 * that a process makes itself, and the owner found there is remembered per
 * socket (keyed by the socket's address) until the socket reaches CLOSE:
 *
 *   CLOSE -> SYN_SENT           connect(): the current task.
 *   CLOSE -> LISTEN             listen(): the current task, also remembered by
 *                               (network namespace, local port) for children.
 *   LISTEN -> SYN_RECV          a passive connection is born (softirq): the
 *                               owner of the listener on its local port.
 *   ESTABLISHED -> FIN_WAIT1,   close() or shutdown() by a process: the current
 *   CLOSE_WAIT -> LAST_ACK      task, if the owner is not known yet.
 *   accept() returns it         tcp_owner_accept_fd(), from the accept
 *                               syscalls' exit, or tcp_owner_accept_sock(),
 *                               from fexit on inet_csk_accept: the
 *                               accepting task.
 *
 * A socket whose owner is unknown (it or its listener predates the tracer,
 * or its listener was never bound to a port before listen()) has owner pid 0
 * until one of the above happens. Such sockets are reported, as pid 0, only
 * when no filter is active: with a filter, nothing is known to match.
 *
 * The including file defines, before including this header:
 *   current_passes_filter()  the standard filters on the current task (1 when
 *                            they pass), holding that file's filter placeholder
 *                            (the template fills only the main source file);
 *   FILTER_ACTIVE            1 when a filter was given.
 */
#ifndef TCP_OWNER_H
#define TCP_OWNER_H

#define TCP_OWNER_AF_INET  2
#define TCP_OWNER_AF_INET6 10

struct tcp_owner {
    __u64 born_ns;  /* when the connection began (connect or SYN); 0: unknown */
    __u64 since_ns; /* when the socket entered its current state; 0: unknown */
    __u32 pid;      /* process id (tgid); 0: unknown */
    __u16 port;     /* the service port: remote for connect(), local for listen/accept */
    __u8 passive;   /* 1 for listeners and the connections they accepted */
    __u8 pad;
    char comm[16];
};

struct tcp_listener_key {
    __u32 netns;
    __u16 port;
    __u16 pad;
};

struct tcp_listener {
    __u64 sk; /* the listening socket; 0 when learned from accept() */
    __u32 pid;
    char comm[16];
};

/* Where a socket's owner record lives: a slot of tcp_owner_slots, an array
 * indexed by a hash of the socket's address, when that slot is free or
 * already the socket's; else (another live socket holds the slot) an entry of
 * tcp_owners. A transition finds the record with an array lookup, which the
 * verifier inlines into a few instructions, and a comparison; only sockets
 * whose slot was taken pay for a hash lookup, and claiming or releasing a
 * slot needs no insert or delete of a hash entry. */
#define TCP_OWNER_SLOT_BITS 14
#define TCP_OWNER_SLOTS     (1 << TCP_OWNER_SLOT_BITS)

struct tcp_owner_slot {
    __u64 sk; /* the socket whose record this is; 0: free */
    struct tcp_owner owner;
};

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, TCP_OWNER_SLOTS);
    __type(key, __u32);
    __type(value, struct tcp_owner_slot);
} tcp_owner_slots SEC(".maps");

/* LRU: a socket that disappears without a CLOSE transition (there should be
 * none, but the map must never fill up) is forgotten eventually. Such a
 * socket's array slot stays taken until its address is reused by a socket
 * that reaches CLOSE; sockets that hash to it meanwhile live here. As many
 * entries as slots: with 16384 live sockets about 6000 of them collide and
 * live here, and from about 30000 (earlier on machines with many CPUs, as
 * an LRU hash keeps free entries per CPU) the least recently active ones
 * are forgotten: their later transitions count as pid 0. That is the price
 * of a quicker start: an LRU hash is preallocated when it is created, and
 * 65536 entries took 2.5 ms, a tenth of a tool's start. */
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, TCP_OWNER_SLOTS);
    __type(key, __u64);
    __type(value, struct tcp_owner);
} tcp_owners SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 4096);
    __type(key, struct tcp_listener_key);
    __type(value, struct tcp_listener);
} tcp_listeners SEC(".maps");

/* The slot of socket sk: Fibonacci hashing of its address (socket objects
 * are aligned, so the low bits alone would cluster). */
static __always_inline struct tcp_owner_slot *tcp_owner_slot_of(__u64 sk)
{
    __u32 index = (__u32)((sk * 0x9E3779B97F4A7C15ULL) >> (64 - TCP_OWNER_SLOT_BITS));
    return bpf_map_lookup_elem(&tcp_owner_slots, &index);
}

/* The owner record of sk, or NULL when it has none. */
static __always_inline struct tcp_owner *tcp_owner_find(__u64 sk)
{
    struct tcp_owner_slot *slot = tcp_owner_slot_of(sk);
    if (slot && slot->sk == sk)
        return &slot->owner;
    return bpf_map_lookup_elem(&tcp_owners, &sk);
}

/* Stores *fresh as the owner record of sk and returns it (NULL when the hash
 * refused it). With only_new, an existing record is kept (and returned). A
 * free slot is claimed with a compare-and-exchange: two sockets that hash to
 * it can be created on two CPUs at once. */
static __always_inline struct tcp_owner *tcp_owner_store(__u64 sk, const struct tcp_owner *fresh,
                                                         int only_new)
{
    struct tcp_owner_slot *slot = tcp_owner_slot_of(sk);
    if (slot) {
        __u64 held = slot->sk;
        int claimed = 0;
        if (held == 0) {
            /* The socket itself may claim it meanwhile on another CPU (an
             * accept beside a transition): then the slot is its record. */
            held = __sync_val_compare_and_swap(&slot->sk, 0, sk);
            claimed = held == 0;
        }
        if (claimed || held == sk) {
            if (claimed || !only_new)
                slot->owner = *fresh;
            return &slot->owner;
        }
    }
    bpf_map_update_elem(&tcp_owners, &sk, fresh, only_new ? BPF_NOEXIST : BPF_ANY);
    return bpf_map_lookup_elem(&tcp_owners, &sk);
}

/* Forgets the owner record of sk. */
static __always_inline void tcp_owner_forget(__u64 sk)
{
    struct tcp_owner_slot *slot = tcp_owner_slot_of(sk);
    /* Only the socket's own transitions write its slot: a plain store frees it. */
    if (slot && slot->sk == sk)
        slot->sk = 0;
    else
        bpf_map_delete_elem(&tcp_owners, &sk);
}

static __always_inline int tcp_owner_visible(const struct tcp_owner *o)
{
    return o->pid != 0 || !FILTER_ACTIVE;
}

/* The current task's pid and comm, read from the task itself: two word
 * loads cost less than a helper call that copies the comm. */
static __always_inline void tcp_owner_set_current(struct tcp_owner *o)
{
    struct task_struct *task = bpf_get_current_task_btf();
    const __u64 *name = (const __u64 *)task->comm;
    __u64 *comm = (__u64 *)o->comm;
    o->pid = task->tgid;
    comm[0] = name[0];
    comm[1] = name[1];
}

static __always_inline struct tcp_listener_key tcp_listener_key_of(const struct sock *sk,
                                                                   __u16 port)
{
    struct tcp_listener_key key = {.port = port};
    key.netns = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
    return key;
}

/* Transitions that only a process makes on its own socket (close, shutdown). */
static __always_inline int tcp_owner_by_process(int oldstate, int newstate)
{
    return (oldstate == TCP_ESTABLISHED && newstate == TCP_FIN_WAIT1) ||
           (oldstate == TCP_CLOSE_WAIT && newstate == TCP_LAST_ACK);
}

/* The owner record of the socket changing state in ctx, created or updated by
 * the rules above; NULL when the socket is not followed. Its since_ns is
 * still the time the old state was entered: call tcp_owner_advance() after
 * using it. */
static __always_inline struct tcp_owner *
tcp_owner_track(struct trace_event_raw_inet_sock_set_state *ctx, __u64 now)
{
    __u64 sk = (__u64)ctx->skaddr;
    int oldstate = ctx->oldstate, newstate = ctx->newstate;
    __u16 sport = ctx->sport, dport = ctx->dport;
    /* Both ports in registers: clang would otherwise pick one by computing a
     * pointer into the context, which the verifier refuses. */
    asm volatile("" : "+r"(sport), "+r"(dport));
    struct tcp_owner fresh = {};

    if (newstate == TCP_SYN_SENT || newstate == TCP_LISTEN) {
        /* connect() and listen(): always in the process that makes the call. A
         * listener that does not pass the filter also replaces what was known
         * about its port, so that its children are not charged to a former one. */
        if (!current_passes_filter()) {
            if (newstate == TCP_LISTEN && sport) {
                struct tcp_listener_key key = tcp_listener_key_of((const struct sock *)sk, sport);
                bpf_map_delete_elem(&tcp_listeners, &key);
            }
            tcp_owner_forget(sk);
            return NULL;
        }
        fresh.born_ns = now;
        fresh.passive = newstate == TCP_LISTEN;
        fresh.port = fresh.passive ? sport : dport;
        tcp_owner_set_current(&fresh);
        if (fresh.passive && sport) {
            struct tcp_listener_key key = tcp_listener_key_of((const struct sock *)sk, sport);
            struct tcp_listener listener = {.sk = sk, .pid = fresh.pid};
            __builtin_memcpy(listener.comm, fresh.comm, sizeof(listener.comm));
            bpf_map_update_elem(&tcp_listeners, &key, &listener, BPF_ANY);
        }
        return tcp_owner_store(sk, &fresh, 0);
    }

    struct tcp_owner *o;
    if (oldstate == TCP_LISTEN && newstate == TCP_SYN_RECV) {
        /* A passive connection is born, in softirq context: the listener on its
         * local port owns it. A birth always starts a fresh record. */
        struct tcp_listener_key key = tcp_listener_key_of((const struct sock *)sk, sport);
        struct tcp_listener *listener = bpf_map_lookup_elem(&tcp_listeners, &key);
        fresh.born_ns = now;
        fresh.passive = 1;
        fresh.port = sport;
        if (listener) {
            fresh.pid = listener->pid;
            __builtin_memcpy(fresh.comm, listener->comm, sizeof(fresh.comm));
        }
        o = tcp_owner_store(sk, &fresh, 0);
    } else {
        o = tcp_owner_find(sk);
        if (!o) {
            /* The socket predates the tracer: neither its age nor its direction is
             * known. The lower port is taken as the service port, as ephemeral
             * ports are the high ones. */
            fresh.passive = sport < dport;
            fresh.port = fresh.passive ? sport : dport;
            o = tcp_owner_store(sk, &fresh, 1);
        }
    }
    if (o && o->pid == 0 && tcp_owner_by_process(oldstate, newstate) && current_passes_filter())
        tcp_owner_set_current(o);
    return o;
}

/* Records the new state's start, and forgets the socket (and a listener's
 * port) when it reaches CLOSE. */
static __always_inline void tcp_owner_advance(struct trace_event_raw_inet_sock_set_state *ctx,
                                              struct tcp_owner *o, __u64 now)
{
    __u64 sk = (__u64)ctx->skaddr;
    if (ctx->newstate != TCP_CLOSE) {
        o->since_ns = now;
        return;
    }
    if (ctx->oldstate == TCP_LISTEN && ctx->sport) {
        struct tcp_listener_key key = tcp_listener_key_of((const struct sock *)sk, ctx->sport);
        struct tcp_listener *listener = bpf_map_lookup_elem(&tcp_listeners, &key);
        /* sk 0: learned from accept(), so possibly this listener's. */
        if (listener && (listener->sk == sk || listener->sk == 0))
            bpf_map_delete_elem(&tcp_listeners, &key);
    }
    tcp_owner_forget(sk);
}

/* accept() returned sk to the current task, which passed the filter: it
 * owns the connection from now on, and the connections its listening port
 * accepts later belong to it from their birth, unless the listener's owner
 * is already known. It is when the connection had an owner before the
 * accept: a passive connection gets one at its birth only from its
 * listener's entry, so the listener is not looked up again. Else its entry
 * is looked up before it is written: an insert into an LRU hash takes a free
 * node even when the key exists. */
static __always_inline struct tcp_owner *tcp_owner_accepted(const struct sock *sk, __u16 lport)
{
    struct tcp_owner *o = tcp_owner_find((__u64)sk);
    if (!o) {
        struct tcp_owner fresh = {.passive = 1, .port = lport};
        o = tcp_owner_store((__u64)sk, &fresh, 1);
        if (!o)
            return NULL;
    }
    __u32 known = o->pid;
    tcp_owner_set_current(o);
    if (known)
        return o;
    struct tcp_listener_key lkey = tcp_listener_key_of(sk, lport);
    if (!bpf_map_lookup_elem(&tcp_listeners, &lkey)) {
        struct tcp_listener listener = {.pid = o->pid};
        __builtin_memcpy(listener.comm, o->comm, sizeof(listener.comm));
        bpf_map_update_elem(&tcp_listeners, &lkey, &listener, BPF_NOEXIST);
    }
    return o;
}

/* The socket behind descriptor fd of the current process. The task's file
 * table is walked with direct loads (a BTF-typed task); from the file on,
 * the pointers are plain numbers and are read with bpf_probe_read_kernel.
 * The direct loads cost the verifier a linear search of the kernel's BTF by
 * name when it loads task->files from the trusted task (1.2-2.5 ms of a
 * start); reading the table with bpf_probe_read_kernel instead would save
 * that, but made each accept about 100 ns dearer (measured on Linux 6.18):
 * an always-on agent pays per event, so the loads stay. */
static __always_inline struct sock *tcp_owner_socket_of_fd(long fd)
{
    struct task_struct *task = bpf_get_current_task_btf();
    struct files_struct *files = task->files;
    if (!files)
        return NULL;
    struct fdtable *fdt = files->fdt;
    if (!fdt || fd < 0 || fd >= fdt->max_fds)
        return NULL;
    struct file **fds = fdt->fd;
    struct file *file = NULL;
    if (bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]) || !file)
        return NULL;
    struct socket *sock = BPF_CORE_READ(file, private_data);
    return sock ? BPF_CORE_READ(sock, sk) : NULL;
}

/* The socket an accept returned to the current task, which passed the
 * filter (fexit on inet_csk_accept, or tcp_owner_accept_fd below): when it is
 * a TCP socket over IPv4 or IPv6, records the task as its owner and returns
 * it, with its owner record in *owner (NULL when the map is full). */
static __always_inline struct sock *tcp_owner_accept_sock(struct sock *sk, struct tcp_owner **owner)
{
    *owner = NULL;
    if (!sk || BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
        return NULL;
    __u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
    if (family != TCP_OWNER_AF_INET && family != TCP_OWNER_AF_INET6)
        return NULL;
    *owner = tcp_owner_accepted(sk, BPF_CORE_READ(sk, __sk_common.skc_num));
    return sk;
}

/* For the exit of accept()/accept4() returning fd (negative: an error): when
 * the current task passes the filter and fd is a TCP socket over IPv4 or
 * IPv6, records the task as its owner and returns the socket, with its
 * owner record in *owner (NULL when the map is full). accept() runs in the
 * accepting process, so the current task is the right owner here. */
static __always_inline struct sock *tcp_owner_accept_fd(long fd, struct tcp_owner **owner)
{
    *owner = NULL;
    if (fd < 0 || !current_passes_filter())
        return NULL;
    return tcp_owner_accept_sock(tcp_owner_socket_of_fd(fd), owner);
}

#endif /* TCP_OWNER_H */

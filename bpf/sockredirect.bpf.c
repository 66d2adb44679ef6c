// sockredirect: local TCP connections skip the TCP/IP stack. Data that one
// end of a connection on this host sends is put straight into the other
// end's receive queue, with no segments, checksums, ACKs or loopback
// device in between.
//
// Two programs: a sock_ops program, attached to a cgroup v2, sees each TCP
// connection of that cgroup's processes become established and adds the
// socket to a sockhash, keyed by its own view of the connection (local
// address and port, remote address and port). An sk_msg program, attached to
// that sockhash, then runs for every sendmsg() on those sockets: it looks up
// the peer (the same connection seen from the other end: the key with local
// and remote swapped) and redirects the message into the peer's ingress
// queue. When there is no peer in the map (the other end is not in the
// cgroup, or not on this host) the message takes the normal path.
//
// Counters per connection end (struct conn_stats) show whether the fast path
// was taken: messages and bytes redirected, and those that passed normally.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "ebpfrun.h"

#define AF_INET_VALUE  2
#define AF_INET6_VALUE 10

// One end of a connection, as that end sees it. Ports in host byte order;
// addresses as the kernel stores them (network byte order). IPv4 addresses
// use the first word of each address.
struct sock_key {
    __u32 local_ip[4];
    __u32 remote_ip[4];
    __u32 local_port;
    __u32 remote_port;
    __u32 family;
};

struct conn_stats {
    __u64 redirected_msgs; // sendmsg()s put into the peer's queue directly
    __u64 redirected_bytes;
    __u64 passed_msgs; // sendmsg()s that went through the TCP/IP stack
    __u64 passed_bytes;
    __u32 pid;  // the last process that sent on this end
    __u32 open; // 1 until the connection closes
    char comm[16];
};

struct {
    __uint(type, BPF_MAP_TYPE_SOCKHASH);
    __uint(max_entries, 65536);
    __type(key, struct sock_key);
    __type(value, __u64);
} sock_hash SEC(".maps");

// LRU: closed connections' counters stay until newer ones need the room.
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 65536);
    __type(key, struct sock_key);
    __type(value, struct conn_stats);
} conn_stats SEC(".maps");

// Where the sk_msg program cannot read the comm (see redirect()): pid -> the
// comm the process had when it exited, empty while it runs. redir_msg_nocomm
// adds each sender; redir_exit fills in the comm of those that exit, so that
// user space names a sender that is gone by the time it reads the counters
// (it reads /proc/PID/comm for those still running).
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 16384);
    __type(key, __u32);
    __type(value, char[16]);
} sender_comm SEC(".maps");

// Both ends on this host: a loopback address, or the same address at both
// ends (a connection to one of this host's own addresses).
static __always_inline bool is_local(const struct sock_key *k)
{
    if (k->family == AF_INET_VALUE) {
        __u32 remote = bpf_ntohl(k->remote_ip[0]);
        return (remote >> 24) == 127 || k->remote_ip[0] == k->local_ip[0];
    }
    bool loopback = k->remote_ip[0] == 0 && k->remote_ip[1] == 0 && k->remote_ip[2] == 0 &&
                    k->remote_ip[3] == bpf_htonl(1);
    bool same = k->remote_ip[0] == k->local_ip[0] && k->remote_ip[1] == k->local_ip[1] &&
                k->remote_ip[2] == k->local_ip[2] && k->remote_ip[3] == k->local_ip[3];
    return loopback || same;
}

// remote_port is in network byte order in the top half of its u32 (on
// little-endian machines), local_port in host byte order: bpf_ntohl puts the
// remote one in host order too.
SEC("sockops")
int redir_sockops(struct bpf_sock_ops *skops)
{
    __u32 family = skops->family;
    if (family != AF_INET_VALUE && family != AF_INET6_VALUE)
        return 1;
    struct sock_key key = {.family = family};
    key.local_port = skops->local_port;
    key.remote_port = bpf_ntohl(skops->remote_port);
    if (family == AF_INET_VALUE) {
        key.local_ip[0] = skops->local_ip4;
        key.remote_ip[0] = skops->remote_ip4;
    } else {
        key.local_ip[0] = skops->local_ip6[0];
        key.local_ip[1] = skops->local_ip6[1];
        key.local_ip[2] = skops->local_ip6[2];
        key.local_ip[3] = skops->local_ip6[3];
        key.remote_ip[0] = skops->remote_ip6[0];
        key.remote_ip[1] = skops->remote_ip6[1];
        key.remote_ip[2] = skops->remote_ip6[2];
        key.remote_ip[3] = skops->remote_ip6[3];
    }
    switch (skops->op) {
    case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
    case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB: {
        if (!is_local(&key))
            return 1;
        if (bpf_sock_hash_update(skops, &sock_hash, &key, BPF_NOEXIST) != 0)
            return 1;
        struct conn_stats fresh = {.open = 1};
        bpf_map_update_elem(&conn_stats, &key, &fresh, BPF_ANY);
        // Tell us when it closes, for the status view. The sockhash entry
        // goes by itself when the socket closes.
        bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags | BPF_SOCK_OPS_STATE_CB_FLAG);
        break;
    }
    case BPF_SOCK_OPS_STATE_CB:
        if (skops->args[1] == BPF_TCP_CLOSE) {
            struct conn_stats *stats = bpf_map_lookup_elem(&conn_stats, &key);
            if (stats)
                stats->open = 0;
        }
        break;
    }
    return 1;
}

// Only messages sent by processes that pass the filter are redirected.
static __always_inline bool sender_matches(void)
{
    /*FILTER*/
    return true;
}

// The sk_msg program comes twice: redir_msg records the sender's comm, which
// older kernels (6.1, 6.12; 6.18 allows it) refuse in sk_msg programs
// (bpf_get_current_comm was a tracing helper only); redir_msg_nocomm does
// without, and user space reads the comm of the recorded pid instead, from
// /proc while it runs and from sender_comm once it has exited
// (scripts/sockredirect.lua loads both as optional and attaches redir_msg
// where it loaded). A --comm filter puts bpf_get_current_comm into both, so
// those kernels refuse it.
static __always_inline int redirect(struct sk_msg_md *msg, bool with_comm)
{
    __u32 family = msg->family;
    struct sock_key self = {.family = family}, peer = {.family = family};
    self.local_port = peer.remote_port = msg->local_port;
    self.remote_port = peer.local_port = bpf_ntohl(msg->remote_port);
    if (family == AF_INET_VALUE) {
        self.local_ip[0] = peer.remote_ip[0] = msg->local_ip4;
        self.remote_ip[0] = peer.local_ip[0] = msg->remote_ip4;
    } else {
        self.local_ip[0] = peer.remote_ip[0] = msg->local_ip6[0];
        self.local_ip[1] = peer.remote_ip[1] = msg->local_ip6[1];
        self.local_ip[2] = peer.remote_ip[2] = msg->local_ip6[2];
        self.local_ip[3] = peer.remote_ip[3] = msg->local_ip6[3];
        self.remote_ip[0] = peer.local_ip[0] = msg->remote_ip6[0];
        self.remote_ip[1] = peer.local_ip[1] = msg->remote_ip6[1];
        self.remote_ip[2] = peer.local_ip[2] = msg->remote_ip6[2];
        self.remote_ip[3] = peer.local_ip[3] = msg->remote_ip6[3];
    }
    __u64 size = msg->size;

    struct conn_stats *stats = bpf_map_lookup_elem(&conn_stats, &self);
    if (!stats) {
        struct conn_stats fresh = {.open = 1};
        bpf_map_update_elem(&conn_stats, &self, &fresh, BPF_NOEXIST);
        stats = bpf_map_lookup_elem(&conn_stats, &self);
        if (!stats)
            return SK_PASS;
    }
    __u32 pid = ebpfrun_current_pid();
    stats->pid = pid;
    if (with_comm) {
        bpf_get_current_comm(stats->comm, sizeof(stats->comm));
    } else if (!bpf_map_lookup_elem(&sender_comm, &pid)) {
        char none[16] = {};
        bpf_map_update_elem(&sender_comm, &pid, none, BPF_NOEXIST);
    }

    // bpf_msg_redirect_hash returns SK_DROP when the peer is not in the map;
    // the message then goes the normal way instead of being dropped.
    if (sender_matches() &&
        bpf_msg_redirect_hash(msg, &sock_hash, &peer, BPF_F_INGRESS) == SK_PASS) {
        __sync_fetch_and_add(&stats->redirected_msgs, 1);
        __sync_fetch_and_add(&stats->redirected_bytes, size);
    } else {
        __sync_fetch_and_add(&stats->passed_msgs, 1);
        __sync_fetch_and_add(&stats->passed_bytes, size);
    }
    return SK_PASS;
}

SEC("sk_msg")
int redir_msg(struct sk_msg_md *msg)
{
    return redirect(msg, true);
}

SEC("sk_msg")
int redir_msg_nocomm(struct sk_msg_md *msg)
{
    return redirect(msg, false);
}

// A sender's comm as it exits (its main thread: the name /proc/PID/comm
// shows). A tracepoint program may read it on every kernel.
SEC("tracepoint/sched/sched_process_exit")
int redir_exit(void *ctx)
{
    __u64 id = bpf_get_current_pid_tgid();
    __u32 pid = id >> 32;
    if (pid != (__u32)id)
        return 0;
    char *comm = bpf_map_lookup_elem(&sender_comm, &pid);
    if (comm)
        bpf_get_current_comm(comm, 16);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";

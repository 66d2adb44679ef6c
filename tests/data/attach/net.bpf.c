/* Cgroup sock_ops and sk_msg programs for tests/attach. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "ebpfrun.h"

/* sock_ops callback op -> how many times it ran */
EBPFRUN_HASH(att_sockops_seen, __u32, __u64, 64);

struct {
    __uint(type, BPF_MAP_TYPE_SOCKHASH);
    __uint(max_entries, 16);
    __type(key, __u32);
    __type(value, __u64);
} att_sockhash SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u64);
} att_msgs SEC(".maps");

SEC("sockops")
int att_sockops(struct bpf_sock_ops *skops)
{
    __u32 op = skops->op;
    __u64 one = 1;
    __u64 *n = bpf_map_lookup_elem(&att_sockops_seen, &op);
    if (n)
        __sync_fetch_and_add(n, 1);
    else
        bpf_map_update_elem(&att_sockops_seen, &op, &one, BPF_NOEXIST);
    return 1;
}

SEC("sk_msg")
int att_sk_msg(struct sk_msg_md *msg)
{
    __u32 key = 0;
    __u64 *n = bpf_map_lookup_elem(&att_msgs, &key);
    if (n)
        __sync_fetch_and_add(n, 1);
    return SK_PASS;
}

char LICENSE[] SEC("license") = "GPL";

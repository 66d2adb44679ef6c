/* tcp_retransmit.h — the record of tracepoint tcp/tcp_retransmit_skb on
 * every kernel, for bpf/network.bpf.c and bpf/netsubsys.bpf.c.
 *
 * Why: on older kernels (6.1 and 6.12 among them) the event belongs to the
 * class tcp_event_sk_skb (struct trace_event_raw_tcp_event_sk_skb); newer ones
 * (6.18) give it a record of its own with an `err` member at the end
 * (struct trace_event_raw_tcp_retransmit_skb). An object compiled against a
 * new kernel's vmlinux.h named only the new struct, whose CO-RE relocations
 * cannot be resolved where it does not exist, so the whole object failed to
 * load on 6.1 and 6.12.
 *
 * Both records begin with the same members at the same offsets (the event's
 * TP_STRUCT__entry kept them when it got its own record), so those are read
 * through a plain struct declared here, without CO-RE relocations, and only
 * `err` is asked for by CO-RE: bpf_core_field_exists() is 0 where the new
 * record does not exist. (Two CO-RE flavors chosen by bpf_core_type_exists()
 * do not work here: clang merges the two branches into one access through
 * an offset computed from the ctx pointer, which the verifier refuses.)
 */
#pragma once

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>

struct tcp_retransmit_record {
    __u64 common; /* struct trace_entry */
    const void *skbaddr;
    const void *skaddr;
    int state;
    __u16 sport;
    __u16 dport;
    __u16 family;
    __u8 saddr[4];
    __u8 daddr[4];
    __u8 saddr_v6[16];
    __u8 daddr_v6[16];
};

/* The error the kernel recorded for the retransmit, 0 where it records none. */
static __always_inline int tcp_retransmit_err(void *raw)
{
    if (bpf_core_field_exists(struct trace_event_raw_tcp_retransmit_skb, err))
        return ((struct trace_event_raw_tcp_retransmit_skb *)raw)->err;
    return 0;
}

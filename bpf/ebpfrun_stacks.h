/* ebpfrun_stacks.h — kernel and user stack traces from BPF programs, for
 * symbolization in the host (obj:stack(), ebpf.symbolize()).
 *
 * Built into the ebpfrun binary: `#include "ebpfrun_stacks.h"` works wherever
 * ebpfrun is installed, after vmlinux.h and <bpf/bpf_helpers.h>.
 *
 * Two ways to take a stack, for two uses:
 *   - counting: EBPFRUN_STACK_MAP(name, entries) declares a
 *     BPF_MAP_TYPE_STACK_TRACE map and EBPFRUN_KSTACK(ctx, name) /
 *     EBPFRUN_USTACK(ctx, name) return a stack id (negative on failure) to use
 *     in a key; identical stacks share one id, so a profile keyed by
 *     (pid, kernel id, user id) stays small. The host reads a stack with
 *     obj:stack("name", id [, pid]).
 *   - events: EBPFRUN_STACK_IN_EVENT(ctx, array, flags) fills a fixed array
 *     of __u64 in a ring-buffer event with bpf_get_stack() and evaluates to
 *     the number of frames; the host passes the addresses to
 *     ebpf.symbolize(addrs [, pid]).
 *
 * Why a stack-trace map keyed by hash: bpf_get_stackid() with
 * BPF_F_REUSE_STACKID replaces an older stack whose hash collides, so a
 * long profile keeps counting instead of losing new stacks (-EEXIST) once two
 * stacks collide; the cost is that a rare collision attributes old counts to
 * the newer stack, which for sampling is the better trade.
 */
#ifndef EBPFRUN_STACKS_H
#define EBPFRUN_STACKS_H

/* The kernel's PERF_MAX_STACK_DEPTH: the deepest stack it records. */
#define EBPFRUN_MAX_STACK_DEPTH 127

#define EBPFRUN_STACK_MAP(name, entries)                                                           \
    struct {                                                                                       \
        __uint(type, BPF_MAP_TYPE_STACK_TRACE);                                                    \
        __uint(max_entries, entries);                                                              \
        __uint(key_size, sizeof(__u32));                                                           \
        __uint(value_size, EBPFRUN_MAX_STACK_DEPTH * sizeof(__u64));                               \
    } name SEC(".maps")

#define EBPFRUN_KSTACK(ctx, map) bpf_get_stackid((ctx), &(map), BPF_F_REUSE_STACKID)
#define EBPFRUN_USTACK(ctx, map)                                                                   \
    bpf_get_stackid((ctx), &(map), BPF_F_REUSE_STACKID | BPF_F_USER_STACK)

/* Number of frames written into `array` (a __u64[N] member), 0 on failure. */
#define EBPFRUN_STACK_IN_EVENT(ctx, array, flags)                                                  \
    ({                                                                                             \
        long __bytes = bpf_get_stack((ctx), (array), sizeof(array), (flags));                      \
        __bytes > 0 ? (int)(__bytes / sizeof(__u64)) : 0;                                          \
    })

#endif

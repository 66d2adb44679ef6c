/* ebpfrun.h — helpers shared by ebpfrun's collectors and user probes.
 *
 * Built into the ebpfrun binary: `#include "ebpfrun.h"` works wherever ebpfrun
 * is installed, after vmlinux.h and <bpf/bpf_helpers.h>.
 */
#ifndef EBPFRUN_H
#define EBPFRUN_H

/* Process id (tgid) and thread id of the current task, as user space names them. */
static __always_inline __u32 ebpfrun_current_pid(void)
{
    return bpf_get_current_pid_tgid() >> 32;
}
static __always_inline __u32 ebpfrun_current_tid(void)
{
    return (__u32)bpf_get_current_pid_tgid();
}
static __always_inline __u32 ebpfrun_current_uid(void)
{
    return (__u32)bpf_get_current_uid_gid();
}

/* Map definition shorthands for the common cases. */
#define EBPFRUN_HASH(name, key_type, value_type, entries)                                          \
    struct {                                                                                       \
        __uint(type, BPF_MAP_TYPE_HASH);                                                           \
        __uint(max_entries, entries);                                                              \
        __type(key, key_type);                                                                     \
        __type(value, value_type);                                                                 \
    } name SEC(".maps")

#define EBPFRUN_RINGBUF(name, bytes)                                                               \
    struct {                                                                                       \
        __uint(type, BPF_MAP_TYPE_RINGBUF);                                                        \
        __uint(max_entries, bytes);                                                                \
    } name SEC(".maps")

#endif /* EBPFRUN_H */

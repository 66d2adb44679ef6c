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

/* Copies a task's comm into `kept` (16 bytes, 8-aligned, e.g. a map value's
 * char comm[16]) only when it changed: a process that exec()s shows its final
 * name, and two word loads from the task are cheaper than a helper call on
 * every event. `task` must be a BTF pointer (bpf_get_current_task_btf(), a
 * tp_btf argument) so that its comm can be loaded directly. */
static __always_inline void ebpfrun_refresh_comm(char *kept, const struct task_struct *task)
{
    const __u64 *name = (const __u64 *)task->comm;
    __u64 *words = (__u64 *)kept;
    __u64 w0 = name[0], w1 = name[1];
    if (words[0] != w0 || words[1] != w1) {
        words[0] = w0;
        words[1] = w1;
    }
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

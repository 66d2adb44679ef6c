/* ebpfrun_events.h — event output from BPF programs, with drops that are counted.
 *
 * Built into the ebpfrun binary: `#include "ebpfrun_events.h"` works wherever
 * ebpfrun is installed, after vmlinux.h and <bpf/bpf_helpers.h>.
 *
 * Why: bpf_ringbuf_reserve() fails when the ring buffer is full (the reader is
 * slower than the producers), and the event is then gone without a trace. The
 * macros below count each such failure in a per-CPU counter that sits next to
 * the ring buffer, so that ebpfrun can report "N events dropped" instead of
 * silently showing fewer events.
 *
 * Convention: a ring buffer map named NAME has its drop counter in a map named
 * NAME_drops, a BPF_MAP_TYPE_PERCPU_ARRAY with one __u64 entry at key 0. The
 * runtime (RingBufReader) looks the counter up by that name and sums it over
 * all CPUs.
 *
 *   struct event { __u32 pid; char comm[16]; };
 *   EBPFRUN_RINGBUF_WITH_DROPS(events, 1 << 20);   // bytes: a power of 2, pages
 *
 *   SEC("tracepoint/sched/sched_process_exec")
 *   int on_exec(void *ctx)
 *   {
 *       struct event *e = EBPFRUN_RESERVE(events, sizeof(*e));
 *       if (!e)
 *           return 0;                  // already counted in events_drops
 *       e->pid = bpf_get_current_pid_tgid() >> 32;
 *       bpf_get_current_comm(e->comm, sizeof(e->comm));
 *       bpf_ringbuf_submit(e, 0);
 *       return 0;
 *   }
 *
 * Perf event arrays need no counter of their own: the kernel reports samples it
 * could not store as "lost" records, and the runtime counts those.
 */
#ifndef EBPFRUN_EVENTS_H
#define EBPFRUN_EVENTS_H

/* Declares the ring buffer map `name` (`bytes` large: a power of 2 and a
 * multiple of the page size) and its drop counter `name##_drops`. */
#define EBPFRUN_RINGBUF_WITH_DROPS(name, bytes)                                                    \
    struct {                                                                                       \
        __uint(type, BPF_MAP_TYPE_RINGBUF);                                                        \
        __uint(max_entries, bytes);                                                                \
    } name SEC(".maps");                                                                           \
    struct {                                                                                       \
        __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);                                                   \
        __uint(max_entries, 1);                                                                    \
        __type(key, __u32);                                                                        \
        __type(value, __u64);                                                                      \
    } name##_drops SEC(".maps")

/* Declares a perf event array `name` for bpf_perf_event_output(); libbpf sizes
 * it to the number of CPUs when the object is loaded. */
#define EBPFRUN_PERF_EVENT_ARRAY(name)                                                             \
    struct {                                                                                       \
        __uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);                                               \
        __uint(key_size, sizeof(__u32));                                                           \
        __uint(value_size, sizeof(__u32));                                                         \
    } name SEC(".maps")

/* Adds one to a drop counter declared by EBPFRUN_RINGBUF_WITH_DROPS. The add is
 * atomic because programs of different kinds (say, a tracepoint and a perf
 * event handler in NMI context) can interleave on one CPU. */
static __always_inline void ebpfrun_count_drop(void *drops)
{
    __u32 zero = 0;
    __u64 *count = bpf_map_lookup_elem(drops, &zero);
    if (count)
        __sync_fetch_and_add(count, 1);
}

/* bpf_ringbuf_reserve() that counts a failure in `drops`. Returns the record to
 * fill and submit (or discard), or NULL when the ring buffer is full. `size`
 * must be a constant the verifier can see, as for bpf_ringbuf_reserve(). */
static __always_inline void *ebpfrun_ringbuf_reserve(void *ringbuf, void *drops, __u64 size)
{
    void *record = bpf_ringbuf_reserve(ringbuf, size, 0);
    if (!record)
        ebpfrun_count_drop(drops);
    return record;
}

/* bpf_ringbuf_output() that counts a failure in `drops`: copies `size` bytes
 * from `data` into the ring buffer. Returns 0 or the helper's negative error. */
static __always_inline long ebpfrun_ringbuf_output(void *ringbuf, void *drops, void *data,
                                                   __u64 size, __u64 flags)
{
    long err = bpf_ringbuf_output(ringbuf, data, size, flags);
    if (err)
        ebpfrun_count_drop(drops);
    return err;
}

/* The same by name, for ring buffers declared with EBPFRUN_RINGBUF_WITH_DROPS. */
#define EBPFRUN_RESERVE(name, size)      ebpfrun_ringbuf_reserve(&name, &name##_drops, size)
#define EBPFRUN_OUTPUT(name, data, size) ebpfrun_ringbuf_output(&name, &name##_drops, data, size, 0)

#endif /* EBPFRUN_EVENTS_H */

/* ebpfrun_maps.h — hash maps whose failed inserts are counted, so that a full
 * map is reported instead of silently making a collector blind.
 *
 * Built into the ebpfrun binary: `#include "ebpfrun_maps.h"` works wherever
 * ebpfrun is installed, after vmlinux.h and <bpf/bpf_helpers.h>.
 *
 * Why: bpf_map_update_elem() on a full BPF_MAP_TYPE_HASH fails with -E2BIG,
 * and a program that ignores the error simply stops counting whatever the new
 * key stood for (a new process, say), forever and without a trace. The macros
 * below count every insert and every failed insert in a per-CPU counter map
 * beside the map, which user space (stdlib/ebpf/collector.lua) reads with the
 * map's entry count and max_entries, reports once on stderr when a map is
 * full, and exports as metrics.
 *
 * Convention: a map named NAME has its counters in a map named NAME_inserts,
 * a BPF_MAP_TYPE_PERCPU_ARRAY of two __u64: slot 0 counts the entries that
 * were inserted (for maps filled with BPF_NOEXIST: the new entries), slot 1
 * the inserts the kernel refused (the map was full, or out of memory). For an
 * LRU map, which never refuses but evicts its least recently used entry
 * instead, inserted minus current entries (minus deletions, for maps that
 * delete) is the number of entries evicted.
 *
 *   EBPFRUN_COUNTED_MAP(stats, BPF_MAP_TYPE_LRU_HASH, __u32, struct stats, 16384);
 *   ...
 *   struct stats fresh = {};
 *   EBPFRUN_INSERT(stats, &pid, &fresh, BPF_NOEXIST);
 *
 * The size can be overridden at compile time with -DEBPFRUN_MAP_ENTRIES=N,
 * which applies to every map that is declared with EBPFRUN_MAP_SIZE(default);
 * the collectors' --max-entries flag sets it.
 */
#ifndef EBPFRUN_MAPS_H
#define EBPFRUN_MAPS_H

#define EBPFRUN_MAP_SLOT_INSERTED 0
#define EBPFRUN_MAP_SLOT_FAILED   1
/* -EEXIST: another CPU inserted the same key first; that is no failure. */
#define EBPFRUN_MAP_EEXIST 17

/* max_entries of a map: -DEBPFRUN_MAP_ENTRIES=N when given, else `entries`. */
#ifdef EBPFRUN_MAP_ENTRIES
#define EBPFRUN_MAP_SIZE(entries) (EBPFRUN_MAP_ENTRIES)
#else
#define EBPFRUN_MAP_SIZE(entries) (entries)
#endif

/* Declares the map `name` (of `map_type`, usually BPF_MAP_TYPE_HASH or
 * BPF_MAP_TYPE_LRU_HASH) and its insert counters `name##_inserts`. */
#define EBPFRUN_COUNTED_MAP(name, map_type, key_type, value_type, entries)                         \
    struct {                                                                                       \
        __uint(type, map_type);                                                                    \
        __uint(max_entries, entries);                                                              \
        __type(key, key_type);                                                                     \
        __type(value, value_type);                                                                 \
    } name SEC(".maps");                                                                           \
    struct {                                                                                       \
        __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);                                                   \
        __uint(max_entries, 2);                                                                    \
        __type(key, __u32);                                                                        \
        __type(value, __u64);                                                                      \
    } name##_inserts SEC(".maps")

/* bpf_map_update_elem() that counts the insert, or its failure, in
 * `counters`. Returns the helper's result. The adds are atomic because
 * programs of different kinds can interleave on one CPU. */
static __always_inline long ebpfrun_map_insert(void *map, void *counters, const void *key,
                                               const void *value, __u64 flags)
{
    long err = bpf_map_update_elem(map, key, value, flags);
    if (err == -EBPFRUN_MAP_EEXIST)
        return err;
    __u32 slot = err ? EBPFRUN_MAP_SLOT_FAILED : EBPFRUN_MAP_SLOT_INSERTED;
    __u64 *count = bpf_map_lookup_elem(counters, &slot);
    if (count)
        __sync_fetch_and_add(count, 1);
    return err;
}

/* The same by name, for maps declared with EBPFRUN_COUNTED_MAP. */
#define EBPFRUN_INSERT(name, key, value, flags)                                                    \
    ebpfrun_map_insert(&name, &name##_inserts, key, value, flags)

/* The entry for `key` in the counted map `name`, inserted as a copy of
 * `*fresh` when there is none; NULL when the insert failed (and was counted). */
#define EBPFRUN_LOOKUP_OR_INSERT(name, key, fresh)                                                 \
    ({                                                                                             \
        void *__ebpfrun_entry = bpf_map_lookup_elem(&name, key);                                   \
        if (!__ebpfrun_entry) {                                                                    \
            EBPFRUN_INSERT(name, key, fresh, BPF_NOEXIST);                                         \
            __ebpfrun_entry = bpf_map_lookup_elem(&name, key);                                     \
        }                                                                                          \
        __ebpfrun_entry;                                                                           \
    })

#endif /* EBPFRUN_MAPS_H */

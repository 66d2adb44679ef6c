// The generic one-liner: one program that serves the most common one-liners
// (stdlib/ebpf/oneliner.lua) without generating and compiling C for each, so
// that `ebpfrun -e 'count("tracepoint/syscalls/sys_enter_openat", "comm")'`
// starts from this source's prebuilt object on a machine with an empty cache.
//
// It serves count(), and sum/min/max/avg/stats/hist of a builtin number or
// an integer field of the tracepoint's record, at classic tracepoints (one
// program attached to every match of a wildcard), keyed by any subset of the
// builtins comm, pid, tid, uid and cpu and at most one integer field (the
// syscall number of a syscall tracepoint is one), filtered by a `where` of
// up to four comparisons joined by &&. What it
// does is chosen by `const volatile` globals written before the load; the
// verifier then removes the branches that are never taken, so the loaded
// program does what the generated one would. The map and its value are the
// generated program's (stdlib/ebpf/oneliner_codegen.lua), so that the two
// print the same; the key holds every builtin, those not chosen left zero.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

// The key fields chosen (ONELINER_KEY_* bits).
#define ONELINER_KEY_COMM  1
#define ONELINER_KEY_PID   2
#define ONELINER_KEY_TID   4
#define ONELINER_KEY_UID   8
#define ONELINER_KEY_CPU   16
#define ONELINER_KEY_FIELD 32
const volatile __u32 oneliner_keys = 0;

// The value aggregated: 0 none (count), else one of ONELINER_VALUE_*.
#define ONELINER_VALUE_PID   1
#define ONELINER_VALUE_TID   2
#define ONELINER_VALUE_UID   3
#define ONELINER_VALUE_CPU   4
#define ONELINER_VALUE_FIELD 5
const volatile __u32 oneliner_value = 0;

// The integer fields of the record that the key and the value read: offset,
// size (1, 2, 4 or 8 bytes) and whether the field is signed, from the
// tracepoint's format file as the generated program has them.
const volatile __u32 oneliner_key_field_offset = 0;
const volatile __u32 oneliner_key_field_size = 0;
const volatile __u32 oneliner_key_field_signed = 0;
const volatile __u32 oneliner_value_field_offset = 0;
const volatile __u32 oneliner_value_field_size = 0;
const volatile __u32 oneliner_value_field_signed = 0;

// Nonzero: the key also holds the value's power-of-two bucket (hist).
const volatile __u32 oneliner_log2 = 0;

// The `where` filter, when it is a conjunction of at most four comparisons
// of a builtin number or an integer field with a constant, or of comm with a
// string (stdlib/ebpf/oneliner_prebuilt.lua makes them): an event counts
// when every term in use holds. A term's operand is 0 (not in use), one of
// ONELINER_VALUE_* or ONELINER_OPERAND_COMM; numbers compare as the
// generated program's do, as signed 64-bit values.
#define ONELINER_OPERAND_COMM 6
#define ONELINER_OP_EQ        1
#define ONELINER_OP_NE        2
#define ONELINER_OP_LT        3
#define ONELINER_OP_LE        4
#define ONELINER_OP_GT        5
#define ONELINER_OP_GE        6
#define ONELINER_WHERE_TERM(i)                                                                     \
    const volatile __u32 oneliner_where##i##_operand = 0;                                          \
    const volatile __u32 oneliner_where##i##_op = 0;                                               \
    const volatile __u32 oneliner_where##i##_offset = 0;                                           \
    const volatile __u32 oneliner_where##i##_size = 0;                                             \
    const volatile __u32 oneliner_where##i##_signed = 0;                                           \
    const volatile __s64 oneliner_where##i##_value = 0;                                            \
    const volatile char oneliner_where##i##_comm[16] = {};
ONELINER_WHERE_TERM(0)
ONELINER_WHERE_TERM(1)
ONELINER_WHERE_TERM(2)
ONELINER_WHERE_TERM(3)

struct oneliner_generic_key {
    char comm[16];
    __s64 pid;
    __s64 tid;
    __s64 uid;
    __s64 cpu;
    __s64 field;
    __s64 bucket;
};

struct oneliner_value {
    __u64 count;
    __s64 sum;
    __s64 min;
    __s64 max;
};

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 10240);
    __type(key, struct oneliner_generic_key);
    __type(value, struct oneliner_value);
} aggregate SEC(".maps");

static __always_inline __s64 builtin(__u32 which)
{
    switch (which) {
    case ONELINER_VALUE_PID:
        return (__s64)(bpf_get_current_pid_tgid() >> 32);
    case ONELINER_VALUE_TID:
        return (__s64)(__u32)bpf_get_current_pid_tgid();
    case ONELINER_VALUE_UID:
        return (__s64)(__u32)bpf_get_current_uid_gid();
    case ONELINER_VALUE_CPU:
        return (__s64)bpf_get_smp_processor_id();
    }
    return 0;
}

// A record field widened to 64 bits with its sign, as the generated
// program's `(__s64)*(__s32 *)((char *)ctx + offset)` does.
static __always_inline __s64 record_field(void *ctx, __u32 offset, __u32 size, __u32 is_signed)
{
    __u64 x = 0;
    if (size == 0 || size > 8)
        return 0;
    // Little-endian: the field's bytes are the low bytes of x; a signed
    // field's top bit is then moved to bit 63 and shifted back down.
    bpf_probe_read_kernel(&x, size, (const char *)ctx + offset);
    if (is_signed && size < 8) {
        __u32 shift = 64 - 8 * size;
        return (__s64)(x << shift) >> shift;
    }
    return (__s64)x;
}

static __always_inline int compare(__s64 a, __u32 op, __s64 b)
{
    switch (op) {
    case ONELINER_OP_EQ:
        return a == b;
    case ONELINER_OP_NE:
        return a != b;
    case ONELINER_OP_LT:
        return a < b;
    case ONELINER_OP_LE:
        return a <= b;
    case ONELINER_OP_GT:
        return a > b;
    case ONELINER_OP_GE:
        return a >= b;
    }
    return 1;
}

// Whether a term of the `where` filter holds (one not in use always does).
static __always_inline int term_holds(void *ctx, __u32 operand, __u32 op, __u32 offset, __u32 size,
                                      __u32 is_signed, __s64 value, const volatile char *text)
{
    if (operand == 0)
        return 1;
    if (operand == ONELINER_OPERAND_COMM) {
        char comm[16] = {};
        bpf_get_current_comm(comm, sizeof(comm));
        int equal = 1;
        for (int k = 0; k < 16; k++) {
            if (comm[k] != text[k]) {
                equal = 0;
                break;
            }
            if (comm[k] == 0)
                break;
        }
        return op == ONELINER_OP_EQ ? equal : !equal;
    }
    __s64 x = operand == ONELINER_VALUE_FIELD ? record_field(ctx, offset, size, is_signed)
                                              : builtin(operand);
    return compare(x, op, value);
}

#define ONELINER_TERM_HOLDS(i)                                                                     \
    term_holds(ctx, oneliner_where##i##_operand, oneliner_where##i##_op,                           \
               oneliner_where##i##_offset, oneliner_where##i##_size, oneliner_where##i##_signed,   \
               oneliner_where##i##_value, oneliner_where##i##_comm)

// No attach target in the section: user space attaches the program to each
// tracepoint the one-liner names.
SEC("tracepoint")
int oneliner_generic(void *ctx)
{
    /*FILTER*/
    if (!ONELINER_TERM_HOLDS(0) || !ONELINER_TERM_HOLDS(1) || !ONELINER_TERM_HOLDS(2) ||
        !ONELINER_TERM_HOLDS(3))
        return 0;
    struct oneliner_generic_key key;
    __builtin_memset(&key, 0, sizeof(key));
    if (oneliner_keys & ONELINER_KEY_COMM)
        bpf_get_current_comm(key.comm, sizeof(key.comm));
    if (oneliner_keys & ONELINER_KEY_PID)
        key.pid = builtin(ONELINER_VALUE_PID);
    if (oneliner_keys & ONELINER_KEY_TID)
        key.tid = builtin(ONELINER_VALUE_TID);
    if (oneliner_keys & ONELINER_KEY_UID)
        key.uid = builtin(ONELINER_VALUE_UID);
    if (oneliner_keys & ONELINER_KEY_CPU)
        key.cpu = builtin(ONELINER_VALUE_CPU);
    if (oneliner_keys & ONELINER_KEY_FIELD)
        key.field = record_field(ctx, oneliner_key_field_offset, oneliner_key_field_size,
                                 oneliner_key_field_signed);
    __s64 v = oneliner_value == ONELINER_VALUE_FIELD
                  ? record_field(ctx, oneliner_value_field_offset, oneliner_value_field_size,
                                 oneliner_value_field_signed)
                  : builtin(oneliner_value);
    if (oneliner_log2) {
        // The generated program's log2 bucket (oneliner_codegen.lua).
        if (v < 0) {
            key.bucket = -1;
        } else {
            __u64 u = v;
            __s64 b = 0;
            while (u && b < 64) {
                b++;
                u >>= 1;
            }
            key.bucket = b;
        }
    }
    struct oneliner_value *p = bpf_map_lookup_elem(&aggregate, &key);
    if (!p) {
        struct oneliner_value init = {0, 0, v, v};
        bpf_map_update_elem(&aggregate, &key, &init, BPF_NOEXIST);
        p = bpf_map_lookup_elem(&aggregate, &key);
        if (!p)
            return 0;
    }
    __sync_fetch_and_add(&p->count, 1);
    __sync_fetch_and_add(&p->sum, v);
    if (v < p->min)
        p->min = v;
    if (v > p->max)
        p->max = v;
    return 0;
}

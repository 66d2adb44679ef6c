/* kprobe, kretprobe, kprobe.multi, fentry and fexit programs on do_sys_openat2
 * (every open() and openat() goes through it), written as libbpf-tools
 * programs are: BPF_KPROBE / BPF_KRETPROBE / BPF_PROG with typed arguments.
 * target_pid is the test process: only its calls are counted,
 * each kind in its own slot of att_probe_counts. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "ebpfrun.h"

// Set in the ELF before load (build::set_elf_global), as libbpf-tools set
// their targ_* filters: the object stays the same from run to run, so the
// object cache serves it (and the kernel matrix's guests the host's copy).
const volatile __u32 target_pid = 0;

enum { SLOT_KPROBE, SLOT_KRETPROBE, SLOT_KPROBE_MULTI, SLOT_FENTRY, SLOT_FEXIT, SLOT_ANY, SLOT_COUNT };

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, SLOT_COUNT);
    __type(key, __u32);
    __type(value, __u64);
} att_probe_counts SEC(".maps");

static __always_inline int count(__u32 slot)
{
    if (ebpfrun_current_pid() != target_pid)
        return 0;
    __u64 *n = bpf_map_lookup_elem(&att_probe_counts, &slot);
    if (n)
        __sync_fetch_and_add(n, 1);
    return 0;
}

SEC("kprobe/do_sys_openat2")
int BPF_KPROBE(att_kp_open, int dfd, const char *filename)
{
    return count(SLOT_KPROBE);
}

SEC("kretprobe/do_sys_openat2")
int BPF_KRETPROBE(att_krp_open, long ret)
{
    /* Only successful opens: the test's are. */
    return ret >= 0 ? count(SLOT_KRETPROBE) : 0;
}

SEC("kprobe.multi/do_sys_openat2")
int att_km_open(struct pt_regs *ctx)
{
    return count(SLOT_KPROBE_MULTI);
}

SEC("fentry/do_sys_openat2")
int BPF_PROG(att_fe_open, int dfd, const char *filename)
{
    return count(SLOT_FENTRY);
}

SEC("fexit/do_sys_openat2")
int BPF_PROG(att_fx_open, int dfd, const char *filename, struct open_how *how, long ret)
{
    return ret >= 0 ? count(SLOT_FEXIT) : 0;
}

/* Reads nothing from its context, so that copies of it load as any kind
 * (attach alternatives). A bare SEC("kprobe") names no target: attach_all
 * passes it over. */
SEC("kprobe")
int att_any_open(void *ctx)
{
    return count(SLOT_ANY);
}

char LICENSE[] SEC("license") = "GPL";

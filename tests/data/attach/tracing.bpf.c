/* Tracepoint, raw tracepoint and tp_btf programs for tests/attach.
 * target_pid is the test process: only its openat calls are recorded. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "ebpfrun.h"

// Set in the ELF before load (build::set_elf_global), as libbpf-tools set
// their targ_* filters: the object stays the same from run to run, so the
// object cache serves it (and the kernel matrix's guests the host's copy).
const volatile __u32 target_pid = 0;

struct open_event {
    __u32 pid;
    char filename[128];
};

EBPFRUN_RINGBUF(att_opens, 1 << 14);

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 2);
    __type(key, __u32);
    __type(value, __u64);
} att_switches SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_openat")
int att_openat(struct trace_event_raw_sys_enter *ctx)
{
    if (ebpfrun_current_pid() != target_pid)
        return 0;
    struct open_event *e = bpf_ringbuf_reserve(&att_opens, sizeof(*e), 0);
    if (!e)
        return 0;
    e->pid = ebpfrun_current_pid();
    bpf_probe_read_user_str(e->filename, sizeof(e->filename), (const char *)ctx->args[1]);
    bpf_ringbuf_submit(e, 0);
    return 0;
}

static __always_inline void count(__u32 key)
{
    __u64 *n = bpf_map_lookup_elem(&att_switches, &key);
    if (n)
        __sync_fetch_and_add(n, 1);
}

SEC("raw_tracepoint/sched_switch")
int att_raw_switch(void *ctx)
{
    count(0);
    return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(att_btf_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
    count(1);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";

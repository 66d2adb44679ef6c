// A program written the way libbpf-tools programs are (opensnoop's
// targ_pid / targ_failed): configured through `const volatile` globals set
// before load, counting through a .bss global that user space reads and
// resets. Used by tests/lua/ebpf_globals.lua.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "globalsnoop.h"

const volatile pid_t targ_pid = 0;
const volatile bool targ_failed = false;
const volatile char targ_comm[GLOBALSNOOP_COMM_LEN] = {};
const volatile enum globalsnoop_mode targ_mode = GLOBALSNOOP_ALL;
const volatile short targ_small = -1;

__u64 seen = 0;
__u32 generation = 7;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 16);
} events SEC(".maps");

SEC("tracepoint/syscalls/sys_exit_openat")
int globalsnoop_exit(struct trace_event_raw_sys_exit *ctx)
{
	__u32 pid = bpf_get_current_pid_tgid() >> 32;
	struct event *e;

	if (targ_pid && targ_pid != pid)
		return 0;
	if (targ_failed && ctx->ret >= 0)
		return 0;
	__sync_fetch_and_add(&seen, 1);
	if (targ_mode == GLOBALSNOOP_COUNT_ONLY)
		return 0;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 0;
	e->pid = pid;
	e->ret = ctx->ret;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";

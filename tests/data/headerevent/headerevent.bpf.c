// An ordinary libbpf program whose ring-buffer event type is defined in its
// header; ebpfrun must still put `struct event` into the object's BTF.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "headerevent.h"

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 16);
} events SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_getpgid")
int hdr_event(struct trace_event_raw_sys_enter *ctx)
{
	struct event *e;

	/*FILTER*/
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 0;
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->arg = ctx->args[0];
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

SEC("tracepoint/syscalls/sys_enter_openat")
int broken(void *ctx)
{
    int x = ;
    return 0;
}

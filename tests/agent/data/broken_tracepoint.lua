-- A collector that cannot attach on any kernel (its tracepoint does not
-- exist): the agent must disable it with the reason and keep the others.
return {
  name = "broken",
  text = [[
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
SEC("tracepoint/ebpfrun_no_such_category/no_such_event")
int on_nothing(void *ctx) { return 0; }
char LICENSE[] SEC("license") = "GPL";
]],
  metrics = { { name = "ebpfrun_test_never_total", type = "counter", labels = {}, value = "n", help = "Never." } },
  collect = function() return {} end,
}

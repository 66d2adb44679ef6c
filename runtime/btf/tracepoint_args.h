// runtime/btf tracepoint_args — the arguments of a kernel tracepoint as a
// raw_tp / tp_btf program receives them (its TP_PROTO), with their C types,
// read from the kernel's BTF. For exploring probes (the REPL's :fields).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace ebpfrun::types {

struct TracepointArg {
  std::string name;  // as in the kernel's TP_PROTO
  std::string type;  // C spelling: "struct task_struct *", "unsigned int"
};

// The arguments of tracepoint `event` (such as "sched_switch") from the BTF
// file at `btf_path` (the running kernel's by default). Errors: the BTF cannot
// be read, or it has no such tracepoint (kind not_found).
Result<std::vector<TracepointArg>> tracepoint_args(std::string_view event,
                                                   const std::string& btf_path = "/sys/kernel/btf/vmlinux");

}  // namespace ebpfrun::types

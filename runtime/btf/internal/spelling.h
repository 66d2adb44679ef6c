// Internal to runtime/btf: the C spelling of a BTF type ("const char *",
// "struct task_struct *", "char[16]"), innermost qualifier last, for the
// files that describe kernel types to people (tracepoint_args.cpp,
// kernel_structs.cpp).
#pragma once

#include <bpf/btf.h>

#include <cstdint>
#include <string>

namespace ebpfrun::types::detail {

struct BtfFree {
  void operator()(struct btf* b) const { btf__free(b); }
};

std::string spell(const struct btf* b, uint32_t id, int depth = 0);

}  // namespace ebpfrun::types::detail

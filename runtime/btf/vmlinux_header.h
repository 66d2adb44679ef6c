// runtime/btf vmlinux_header — kernel types for BPF C: turns a BTF blob into a
// vmlinux.h with libbpf's btf_dump, the same output as `bpftool btf dump file
// … format c` (btf_identity.h says which BTF it is).
#pragma once

#include <string>

#include "btf/btf_identity.h"
#include "common/result.h"

namespace ebpfrun::types {

// Generates vmlinux.h text from the BTF file at `path`.
Result<std::string> generate_vmlinux_header(const std::string& path);

}  // namespace ebpfrun::types

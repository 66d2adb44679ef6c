// runtime/btf vmlinux_header — kernel types for BPF C: identifies a BTF blob
// (its hash keys the compiler's object cache) and turns it into a vmlinux.h
// with libbpf's btf_dump, the same output as `bpftool btf dump file … format c`.
#pragma once

#include <cstdint>
#include <string>

#include "common/result.h"

namespace ebpfrun::types {

inline constexpr const char* kKernelBtfPath = "/sys/kernel/btf/vmlinux";

struct BtfIdentity {
  std::string path;
  uint64_t hash = 0;
  uint64_t size = 0;
};

// Hashes the BTF file. Errors say what is missing and offer --btf.
Result<BtfIdentity> identify_btf(const std::string& path);

// Generates vmlinux.h text from the BTF file at `path`.
Result<std::string> generate_vmlinux_header(const std::string& path);

}  // namespace ebpfrun::types

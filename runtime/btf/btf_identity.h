// runtime/btf btf_identity — what identifies a BTF blob: the hash that keys the
// compiler's object cache and the loader's CO-RE cuts.
//
// The hash is of the BTF's bytes, so that a copy of the kernel's BTF (--btf,
// EBPFRUN_BTF) is the same BTF as the kernel's. Hashing the kernel's 5.5 MB
// through sysfs (4 KiB per read) costs more than a cached tool's whole load,
// so the kernel BTF's identity is also remembered: for the process, and, in a
// file of the cache directory, for the rest of the boot (the running kernel's
// BTF cannot change until the machine boots again, and every boot has a boot
// id of its own).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace ebpfrun::types {

inline constexpr const char* kKernelBtfPath = "/sys/kernel/btf/vmlinux";

struct BtfIdentity {
  std::string path;
  uint64_t hash = 0;
  uint64_t size = 0;
};

// The hash of a whole BTF blob, the same whether it is hashed from memory
// (hash_btf) or streamed from a file (identify_btf).
uint64_t hash_btf(std::string_view bytes);

// Identifies the BTF file at `path`. For the kernel's BTF, an identity known
// without reading it (known_kernel_btf) is used, and one computed here is
// remembered (remember_kernel_btf) with `memo_dir`. Errors say what is missing
// and offer --btf.
Result<BtfIdentity> identify_btf(const std::string& path, const std::string& memo_dir = {});

// The kernel BTF's identity when it is known without reading the BTF:
// computed earlier in this process, or remembered in `memo_dir` (may be
// empty) during this boot.
std::optional<BtfIdentity> known_kernel_btf(const std::string& memo_dir);

// Whether `memo_dir` has ever remembered the kernel BTF's identity (of this
// boot or an earlier one): a cache directory that has not is a new one.
bool has_kernel_btf_memo(const std::string& memo_dir);

// Remembers the kernel BTF's identity for this process and, when `memo_dir`
// is not empty, in a file there for the rest of this boot (created when
// missing; a failure to write only costs a later run the hash).
void remember_kernel_btf(const BtfIdentity& identity, const std::string& memo_dir);

}  // namespace ebpfrun::types

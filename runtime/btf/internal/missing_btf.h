// The error for a BTF file that cannot be read (private to runtime/btf).
#pragma once

#include <string>

#include "common/result.h"

namespace ebpfrun::types::detail {

// Says what is missing (the kernel's BTF: offers --btf) for errno `err`.
Error missing_btf(const std::string& path, int err);

}  // namespace ebpfrun::types::detail

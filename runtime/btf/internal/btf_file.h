// Reading BTF files (private to runtime/btf).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/result.h"

namespace ebpfrun::types::detail {

// The error for a BTF file that cannot be read: says what is missing (the
// kernel's BTF: offers --btf) for errno `err`.
Error missing_btf(const std::string& path, int err);

// hash_btf of everything read from `fd` until its end, read a block at a
// time (no buffer of the file's size), with the count of bytes read in
// `*bytes`; nothing, with errno set, when a read fails.
std::optional<uint64_t> hash_btf_stream(int fd, uint64_t* bytes);

}  // namespace ebpfrun::types::detail

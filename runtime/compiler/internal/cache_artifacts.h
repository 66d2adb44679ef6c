// The per-BTF artefacts of the cache (vmlinux.h and the precompiled header),
// stored so that a damaged copy is detected and rebuilt rather than handed to
// clang: each carries its own size and checksum, is verified in full before
// use, and is written through a temporary file and a rename, so readers see
// either the old complete file or the new complete one.
//
// vmlinux.h keeps a trailing comment with its checksum (the file stays a valid
// header); the PCH gets a one-line header in front (clang never reads the
// cached file itself: the backend is handed the verified bytes in memory).
#pragma once

#include <string>
#include <string_view>

namespace ebpfrun::compiler {

std::string seal_header(std::string_view text);
// The header text without its trailer, or false when the file is damaged.
bool unseal_header(std::string_view file, std::string& text);

std::string wrap_pch(std::string_view pch);
bool unwrap_pch(std::string_view file, std::string& pch);

// A cache that cannot be created or written (read-only file system, disk
// full, wrong owner) must not stop a compile: it degrades to building in
// memory. The first time that happens in a process one warning says so.
void warn_cache_unusable(const std::string& why);

}  // namespace ebpfrun::compiler

#include "btf/vmlinux_header.h"

#include <bpf/btf.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <optional>
#include <vector>

#include <fmt/format.h>

#include "common/hash.h"

namespace ebpfrun::types {
namespace {

Error missing_btf(const std::string& path, int err) {
  if (path == kKernelBtfPath && err == ENOENT)
    return make_error(
        ErrorKind::not_supported,
        fmt::format(
            "no kernel BTF at {}: this kernel was built without CONFIG_DEBUG_INFO_BTF, so kernel types are unknown; "
            "pass --btf PATH with a BTF file for this kernel (for example from btfhub)",
            path),
        err);
  return make_errno_error(err, fmt::format("cannot read BTF file {}: {}", path, std::strerror(err)));
}

void append_printf(void* ctx, const char* format, va_list args) {
  auto* out = static_cast<std::string*>(ctx);
  char stack[512];
  va_list copy;
  va_copy(copy, args);
  int n = std::vsnprintf(stack, sizeof stack, format, copy);
  va_end(copy);
  if (n < 0) return;
  if (static_cast<size_t>(n) < sizeof stack) {
    out->append(stack, static_cast<size_t>(n));
    return;
  }
  size_t old = out->size();
  out->resize(old + static_cast<size_t>(n) + 1);
  std::vsnprintf(out->data() + old, static_cast<size_t>(n) + 1, format, args);
  out->resize(old + static_cast<size_t>(n));
}

}  // namespace

Result<BtfIdentity> identify_btf(const std::string& path) {
  // The running kernel's BTF cannot change while this process runs, and both
  // the object cache and the loader's CO-RE cut key on it: hash it once.
  static std::mutex kernel_mutex;
  static std::optional<BtfIdentity> kernel_identity;
  const bool is_kernel = path == kKernelBtfPath;
  if (is_kernel) {
    std::lock_guard lock(kernel_mutex);
    if (kernel_identity) return *kernel_identity;
  }
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return missing_btf(path, errno);
  struct stat st {};
  if (::fstat(fd, &st) != 0 || st.st_size <= 0) {
    ::close(fd);
    return make_error(ErrorKind::invalid_argument, fmt::format("BTF file {} is empty or unreadable", path));
  }
  BtfIdentity identity{path, 0, static_cast<uint64_t>(st.st_size)};
  // sysfs files cannot be mmap'ed: hash 64 KiB blocks, each block's hash
  // seeding the next, so that no 5.5 MB buffer is ever resident. A block is
  // hashed only when full (or at the end): sysfs returns 4 KiB per read() and
  // a regular file 64 KiB, and the identity must be the content's alone, or a
  // copy of the kernel's BTF (--btf, EBPFRUN_BTF) would miss every object the
  // kernel's own compiled.
  std::vector<char> block(64 * 1024);
  uint64_t hash = 0x6b65726e656c;
  uint64_t filled = 0;
  size_t used = 0;
  int read_errno = 0;
  for (;;) {
    ssize_t n = ::read(fd, block.data() + used, block.size() - used);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) read_errno = errno;
    if (n <= 0) break;
    used += static_cast<size_t>(n);
    filled += static_cast<uint64_t>(n);
    if (used == block.size()) {
      hash = xxh64(std::string_view(block.data(), used), hash);
      used = 0;
    }
  }
  if (used > 0) hash = xxh64(std::string_view(block.data(), used), hash);
  ::close(fd);
  if (read_errno != 0) return missing_btf(path, read_errno);
  if (filled != identity.size)
    return make_error(ErrorKind::invalid_argument, fmt::format("short read of BTF file {}", path));
  identity.hash = hash;
  if (is_kernel) {
    std::lock_guard lock(kernel_mutex);
    kernel_identity = identity;
  }
  return identity;
}

Result<std::string> generate_vmlinux_header(const std::string& path) {
  struct btf* btf = btf__parse(path.c_str(), nullptr);
  if (!btf) return missing_btf(path, errno);
  std::string out =
      "#ifndef __VMLINUX_H__\n#define __VMLINUX_H__\n\n"
      "#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n"
      "#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)\n"
      "#endif\n\n";
  out.reserve(3 << 20);
  struct btf_dump* dump = btf_dump__new(btf, append_printf, &out, nullptr);
  if (!dump) {
    int err = errno;
    btf__free(btf);
    return make_errno_error(err, fmt::format("cannot generate vmlinux.h from {}: {}", path, std::strerror(err)));
  }
  const __u32 count = btf__type_cnt(btf);
  for (__u32 id = 1; id < count; ++id) {
    if (int err = btf_dump__dump_type(dump, id); err != 0) {
      btf_dump__free(dump);
      btf__free(btf);
      return make_errno_error(
          err, fmt::format("cannot generate vmlinux.h from {}: type {} failed: {}", path, id, std::strerror(-err)));
    }
  }
  btf_dump__free(dump);
  btf__free(btf);
  out +=
      "#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n#pragma clang attribute pop\n#endif\n\n"
      "#endif /* __VMLINUX_H__ */\n";
  return out;
}

}  // namespace ebpfrun::types

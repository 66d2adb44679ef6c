#include "btf/vmlinux_header.h"

#include <bpf/btf.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>

#include <fmt/format.h>

#include "btf/internal/btf_file.h"

namespace ebpfrun::types {
namespace {

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

Result<std::string> generate_vmlinux_header(const std::string& path) {
  struct btf* btf = btf__parse(path.c_str(), nullptr);
  if (!btf) return detail::missing_btf(path, errno);
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

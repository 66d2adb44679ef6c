#include "common/libbpf_log.h"

#include <bpf/libbpf.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <string_view>

#include "common/log.h"

namespace ebpfrun::log {
namespace {

int libbpf_print(enum libbpf_print_level, const char* format, va_list args) {
  // Every libbpf failure also comes back to us as an error we report in our
  // own words, so libbpf's text is detail for -v only.
  if (level() > Level::debug) return 0;
  char buf[2048];
  int n = std::vsnprintf(buf, sizeof buf, format, args);
  if (n > 0) write(Level::debug, std::string_view(buf, std::min<size_t>(n, sizeof buf - 1)));
  return n;
}

}  // namespace

void route_libbpf_messages() {
  static const bool routed = [] {
    libbpf_set_print(libbpf_print);
    return true;
  }();
  (void)routed;
}

}  // namespace ebpfrun::log

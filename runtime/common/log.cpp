#include "common/log.h"

#include <atomic>
#include <cstdio>

namespace ebpfrun::log {
namespace {
std::atomic<Level> g_level{Level::warn};
}

void set_level(Level l) { g_level.store(l); }
Level level() { return g_level.load(); }

void write(Level l, std::string_view message) {
  static constexpr const char* kPrefix[] = {"debug: ", "", "warning: ", "error: "};
  // Messages may or may not end with a newline; print exactly one.
  if (!message.empty() && message.back() == '\n') message.remove_suffix(1);
  std::fprintf(stderr, "ebpfrun: %s%.*s\n", kPrefix[static_cast<int>(l)],
               static_cast<int>(message.size()), message.data());
}

}  // namespace ebpfrun::log

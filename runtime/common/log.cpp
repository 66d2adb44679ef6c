#include "common/log.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace ebpfrun::log {
namespace {

// EBPFRUN_LOG=debug|info|warn|error sets the starting level, so that tests and
// embedders get libbpf's and the compiler's details without a -v flag.
Level initial_level() {
  const char* env = std::getenv("EBPFRUN_LOG");
  std::string_view v = env ? env : "";
  if (v == "debug") return Level::debug;
  if (v == "info") return Level::info;
  if (v == "error") return Level::error;
  return Level::warn;
}

std::atomic<Level> g_level{initial_level()};

}  // namespace

void set_level(Level l) { g_level.store(l); }
Level level() { return g_level.load(); }

void write(Level l, std::string_view message) {
  static constexpr const char* kPrefix[] = {"debug: ", "", "warning: ", "error: "};
  // Messages may or may not end with a newline; print exactly one.
  if (!message.empty() && message.back() == '\n') message.remove_suffix(1);
  std::fprintf(stderr, "ebpfrun: %s%.*s\n", kPrefix[static_cast<int>(l)], static_cast<int>(message.size()),
               message.data());
}

}  // namespace ebpfrun::log

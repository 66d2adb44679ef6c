#include "compiler/internal/cache_artifacts.h"

#include <atomic>
#include <cstdlib>

#include <fmt/format.h>

#include "common/hash.h"
#include "common/log.h"

namespace ebpfrun::compiler {
namespace {

constexpr std::string_view kHeaderTrailer = "/* ebpfrun vmlinux.h checksum ";
constexpr std::string_view kPchMagic = "EBPFRUN-PCH 1 ";

// Parses "<size> <hex>" followed by `end`; true when both parse.
bool parse_size_and_sum(std::string_view text, std::string_view end, uint64_t& size, uint64_t& sum) {
  size_t space = text.find(' ');
  if (space == std::string_view::npos || text.substr(text.size() - end.size()) != end) return false;
  std::string size_text(text.substr(0, space));
  std::string sum_text(text.substr(space + 1, text.size() - end.size() - space - 1));
  char* stop = nullptr;
  size = std::strtoull(size_text.c_str(), &stop, 10);
  if (size_text.empty() || *stop != '\0') return false;
  sum = std::strtoull(sum_text.c_str(), &stop, 16);
  return !sum_text.empty() && *stop == '\0';
}

}  // namespace

std::string seal_header(std::string_view text) {
  return fmt::format("{}{}{} {} */\n", text, kHeaderTrailer, text.size(), to_hex(xxh64(text)));
}

bool unseal_header(std::string_view file, std::string& text) {
  if (file.empty() || file.back() != '\n') return false;
  size_t start = file.rfind(kHeaderTrailer);
  if (start == std::string_view::npos) return false;
  std::string_view line = file.substr(start + kHeaderTrailer.size());
  uint64_t size = 0, sum = 0;
  if (!parse_size_and_sum(line, " */\n", size, sum) || size != start) return false;
  std::string_view body = file.substr(0, start);
  if (xxh64(body) != sum) return false;
  text.assign(body);
  return true;
}

std::string wrap_pch(std::string_view pch) {
  std::string out = fmt::format("{}{} {}\n", kPchMagic, pch.size(), to_hex(xxh64(pch)));
  out.append(pch);
  return out;
}

bool unwrap_pch(std::string_view file, std::string& pch) {
  if (file.substr(0, kPchMagic.size()) != kPchMagic) return false;
  size_t end = file.find('\n');
  if (end == std::string_view::npos) return false;
  uint64_t size = 0, sum = 0;
  if (!parse_size_and_sum(file.substr(kPchMagic.size(), end + 1 - kPchMagic.size()), "\n", size, sum)) return false;
  std::string_view body = file.substr(end + 1);
  if (body.size() != size || xxh64(body) != sum) return false;
  pch.assign(body);
  return true;
}

void warn_cache_unusable(const std::string& why) {
  static std::atomic<bool> warned{false};
  if (warned.exchange(true)) {
    log::debug("cache still unusable: {}", why);
    return;
  }
  log::warn("{}; compiling without the cache (set XDG_CACHE_HOME to a writable directory to keep compiled objects)",
            why);
}

}  // namespace ebpfrun::compiler

#include "loader/verifier_log.h"

#include <vector>

namespace ebpfrun::loader {
namespace {

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

// Statistics lines the verifier appends after the error; they say nothing about the cause.
bool is_statistics(std::string_view line) {
  return starts_with(line, "processed ") || starts_with(line, "verification time") ||
         starts_with(line, "stack depth") || starts_with(line, "max_states_per_insn") ||
         starts_with(line, "peak_states");
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  return s;
}

}  // namespace

VerifierSummary summarize_verifier_log(std::string_view log, size_t max_lines) {
  std::vector<std::string_view> lines;
  size_t pos = 0;
  while (pos < log.size()) {
    size_t end = log.find('\n', pos);
    if (end == std::string_view::npos) end = log.size();
    std::string_view line = trim(log.substr(pos, end - pos));
    // A NUL-padded buffer: stop at the first NUL.
    if (auto nul = line.find('\0'); nul != std::string_view::npos) {
      line = line.substr(0, nul);
      if (!line.empty()) lines.push_back(line);
      break;
    }
    if (!line.empty() && !is_statistics(line)) lines.push_back(line);
    pos = end + 1;
  }
  VerifierSummary summary;
  for (auto it = lines.rbegin(); it != lines.rend(); ++it) {
    if (starts_with(*it, "; ")) {
      summary.source_line = std::string(it->substr(2));
      break;
    }
  }
  for (auto it = lines.rbegin(); it != lines.rend(); ++it) {
    if (!starts_with(*it, "; ")) {
      summary.reason = std::string(*it);
      break;
    }
  }
  size_t first = lines.size() > max_lines ? lines.size() - max_lines : 0;
  for (size_t i = first; i < lines.size(); ++i) summary.tail += "  " + std::string(lines[i]) + "\n";
  return summary;
}

}  // namespace ebpfrun::loader

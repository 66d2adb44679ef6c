// Fuzz target: the verifier-log summary (runtime/loader/verifier_log.h).
//
// Input: one byte for max_lines, then the log as the kernel would fill the
// buffer (possibly NUL-padded or cut in the middle of a line). Properties: the
// tail holds at most max_lines lines, each indented and newline-terminated, with
// no NUL; the source line is text of the log.
#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "loader/verifier_log.h"

using namespace ebpfrun;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t max_lines = data[0] % 32;
  const std::string_view log(reinterpret_cast<const char*>(data + 1), size - 1);

  const loader::VerifierSummary summary = loader::summarize_verifier_log(log, max_lines);

  const size_t lines = static_cast<size_t>(std::count(summary.tail.begin(), summary.tail.end(), '\n'));
  FUZZ_CHECK(lines <= max_lines, "the tail has more lines than asked for");
  FUZZ_CHECK(summary.tail.empty() || summary.tail.back() == '\n', "the tail does not end with a newline");
  for (size_t pos = 0; pos < summary.tail.size();) {
    FUZZ_CHECK(summary.tail.compare(pos, 2, "  ") == 0, "a tail line is not indented");
    pos = summary.tail.find('\n', pos) + 1;
  }
  FUZZ_CHECK(summary.tail.find('\0') == std::string::npos, "the tail holds a NUL");
  FUZZ_CHECK(summary.source_line.find('\0') == std::string::npos, "the source line holds a NUL");
  FUZZ_CHECK(summary.source_line.find('\n') == std::string::npos, "the source line spans lines");
  FUZZ_CHECK(summary.source_line.empty() || log.find(summary.source_line) != std::string_view::npos,
             "the source line is not text of the log");
  return 0;
}

// Turns a verifier log into what a person needs first: the last meaningful
// lines and the C source line the verifier was looking at (the kernel prints
// "; <source> @ file:line" from the program's BTF line info). The full log is
// kept separately for -v.
#pragma once

#include <string>
#include <string_view>

namespace ebpfrun::loader {

struct VerifierSummary {
  std::string tail;         // last meaningful lines, each indented, newline-terminated
  std::string source_line;  // e.g. "e->pid = task->tgid; @ probe.bpf.c:17", or empty
  std::string reason;       // the verifier's verdict (its last meaningful line), or empty
};

VerifierSummary summarize_verifier_log(std::string_view log, size_t max_lines = 8);

}  // namespace ebpfrun::loader

#include "compiler/diagnostics.h"

#include <fmt/format.h>

namespace ebpfrun::compiler {

const char* severity_name(Severity severity) {
  switch (severity) {
    case Severity::note:
      return "note";
    case Severity::warning:
      return "warning";
    case Severity::error:
      return "error";
    case Severity::fatal:
      return "fatal error";
  }
  return "error";
}

bool has_errors(const std::vector<Diagnostic>& diagnostics) {
  for (const auto& d : diagnostics)
    if (d.severity == Severity::error || d.severity == Severity::fatal) return true;
  return false;
}

std::string render(const Diagnostic& d) {
  std::string out;
  if (!d.file.empty()) {
    out += d.file;
    if (d.line > 0) out += fmt::format(":{}", d.line);
    if (d.column > 0) out += fmt::format(":{}", d.column);
    out += ": ";
  }
  out += fmt::format("{}: {}\n", severity_name(d.severity), d.message);
  if (!d.source_line.empty()) {
    out += d.source_line + "\n";
    // The caret goes under the column; tabs are kept so that it lines up in a terminal.
    std::string pad;
    for (unsigned i = 1; i < d.column && i - 1 < d.source_line.size(); ++i)
      pad += d.source_line[i - 1] == '\t' ? '\t' : ' ';
    if (d.column > 0) out += pad + "^\n";
  }
  return out;
}

std::string render(const std::vector<Diagnostic>& diagnostics) {
  std::string out;
  for (const auto& d : diagnostics) out += render(d);
  return out;
}

}  // namespace ebpfrun::compiler

// Structured compiler diagnostics. The clang backend fills these in; the host
// renders them like clang does (file:line:col: severity: message, the source
// line and a caret). Nothing in the compiler prints to stderr by itself, so
// callers (the CLI, the Lua bindings) decide where diagnostics go.
#pragma once

#include <string>
#include <vector>

namespace ebpfrun::compiler {

enum class Severity { note, warning, error, fatal };

struct Diagnostic {
  Severity severity = Severity::error;
  std::string message;
  std::string file;         // empty when the diagnostic has no location
  unsigned line = 0;        // 1-based; 0 when unknown
  unsigned column = 0;      // 1-based; 0 when unknown
  std::string source_line;  // the text of that line, without newline
};

const char* severity_name(Severity severity);
bool has_errors(const std::vector<Diagnostic>& diagnostics);
std::string render(const Diagnostic& diagnostic);
std::string render(const std::vector<Diagnostic>& diagnostics);

}  // namespace ebpfrun::compiler

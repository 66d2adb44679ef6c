#include "system/check.h"

#include <algorithm>

#include <fmt/format.h>

namespace ebpfrun::system {

std::string_view status_name(CheckStatus status) {
  switch (status) {
    case CheckStatus::ok:
      return "ok";
    case CheckStatus::warning:
      return "warning";
    case CheckStatus::failed:
      return "failed";
    case CheckStatus::fixed:
      return "fixed";
  }
  return "unknown";
}

bool has_blocking_failure(const std::vector<Check>& checks) {
  return std::any_of(checks.begin(), checks.end(), is_blocking_failure);
}

std::string format_table(const std::vector<Check>& checks) {
  size_t name_width = std::string_view("CHECK").size();
  size_t status_width = std::string_view("STATUS").size();
  for (const auto& c : checks) {
    name_width = std::max(name_width, c.name.size());
    status_width = std::max(status_width, status_name(c.status).size());
  }
  std::string out = fmt::format("{:<{}}  {:<{}}  {}\n", "CHECK", name_width, "STATUS", status_width, "DETAIL");
  for (const auto& c : checks)
    out += fmt::format("{:<{}}  {:<{}}  {}\n", c.name, name_width, status_name(c.status), status_width, c.detail);
  return out;
}

std::string json_quote(std::string_view text) {
  std::string out = "\"";
  for (unsigned char ch : text) {
    switch (ch) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (ch < 0x20)
          out += fmt::format("\\u{:04x}", ch);
        else
          out += static_cast<char>(ch);
    }
  }
  out += '"';
  return out;
}

std::string to_json_line(const Check& check) {
  return fmt::format("{{\"check\":{},\"status\":{},\"blocking\":{},\"detail\":{}}}", json_quote(check.name),
                     json_quote(status_name(check.status)), is_blocking_failure(check) ? "true" : "false",
                     json_quote(check.detail));
}

}  // namespace ebpfrun::system

#include "metrics/naming.h"

#include <fmt/format.h>

namespace ebpfrun::metrics {
namespace {

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

bool is_lower(char c) { return c >= 'a' && c <= 'z'; }
bool is_upper(char c) { return c >= 'A' && c <= 'Z'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool camel_case(std::string_view name) {
  for (size_t i = 1; i < name.size(); ++i)
    if (is_lower(name[i - 1]) && is_upper(name[i])) return true;
  return false;
}

std::vector<std::string_view> components(std::string_view name) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (start <= name.size()) {
    size_t end = name.find('_', start);
    if (end == std::string_view::npos) end = name.size();
    if (end > start) parts.push_back(name.substr(start, end - start));
    start = end + 1;
  }
  return parts;
}

// Unit words that have a base unit to use instead (promlint's list, trimmed to
// the ones a tracing tool could plausibly produce).
struct NonBaseUnit {
  const char* word;
  const char* base;
};
constexpr NonBaseUnit kNonBaseUnits[] = {
    {"nanoseconds", "seconds"}, {"microseconds", "seconds"}, {"milliseconds", "seconds"}, {"minutes", "seconds"},
    {"hours", "seconds"},       {"days", "seconds"},         {"weeks", "seconds"},        {"kilobytes", "bytes"},
    {"megabytes", "bytes"},     {"gigabytes", "bytes"},      {"terabytes", "bytes"},      {"petabytes", "bytes"},
    {"bits", "bytes"},          {"kilometers", "meters"},    {"millimeters", "meters"},   {"centimeters", "meters"},
};
constexpr const char* kUnitAbbreviations[] = {"s",  "ms", "us", "ns", "sec", "b", "kb",
                                              "mb", "gb", "tb", "pb", "m",   "h", "d"};
constexpr const char* kTypeWords[] = {"counter", "gauge", "histogram", "summary", "untyped"};

}  // namespace

bool valid_metric_name(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = is_lower(c) || is_upper(c) || c == '_' || c == ':' || (i > 0 && is_digit(c));
    if (!ok) return false;
  }
  return true;
}

bool valid_label_name(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = is_lower(c) || is_upper(c) || c == '_' || (i > 0 && is_digit(c));
    if (!ok) return false;
  }
  return true;
}

std::vector<std::string> lint(std::string_view name, Type type, std::string_view help,
                              const std::vector<std::string>& label_names) {
  std::vector<std::string> problems;
  auto problem = [&](std::string text) { problems.push_back(fmt::format("{}: {}", name, text)); };
  if (!valid_metric_name(name)) {
    problem("not a valid metric name (letters, digits, '_' and ':', not starting with a digit)");
    return problems;
  }
  if (help.empty()) problem("no help text");
  if (name.find(':') != std::string_view::npos)
    problem("metric names should not contain ':' (reserved for recording rules)");
  if (camel_case(name)) problem("metric names should be written in 'snake_case' not 'camelCase'");
  if (name.rfind("__", 0) == 0) problem("names beginning with '__' are reserved for Prometheus' internal use");
  if (type == Type::counter && !ends_with(name, "_total")) problem("counter metrics should have \"_total\" suffix");
  if (type != Type::counter && ends_with(name, "_total"))
    problem("non-counter metrics should not have \"_total\" suffix");
  if (type != Type::histogram)
    for (const char* suffix : {"_bucket", "_count", "_sum"})
      if (ends_with(name, suffix))
        problem(fmt::format("non-histogram and non-summary metrics should not have \"{}\" suffix", suffix));
  for (const char* word : kTypeWords)
    if (name.find(fmt::format("_{}_", word)) != std::string_view::npos || ends_with(name, fmt::format("_{}", word)))
      problem(fmt::format("metric name should not include type '{}'", word));
  for (std::string_view part : components(name)) {
    for (const auto& unit : kNonBaseUnits)
      if (part == unit.word) problem(fmt::format("use base unit \"{}\" instead of \"{}\"", unit.base, unit.word));
    for (const char* abbreviation : kUnitAbbreviations)
      if (part == abbreviation)
        problem(fmt::format("metric names should not contain abbreviated units (\"{}\")", part));
  }
  for (const auto& label : label_names) {
    if (!valid_label_name(label))
      problem(fmt::format("label \"{}\" is not a valid label name", label));
    else if (label.rfind("__", 0) == 0)
      problem(fmt::format("label \"{}\": names beginning with '__' are reserved", label));
    else if (camel_case(label))
      problem(fmt::format("label names should be written in 'snake_case' not 'camelCase' (\"{}\")", label));
    if (type == Type::histogram && label == "le") problem("histograms should not have \"le\" label");
  }
  return problems;
}

}  // namespace ebpfrun::metrics

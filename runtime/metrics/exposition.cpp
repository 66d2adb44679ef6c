#include "metrics/exposition.h"

#include <cmath>
#include <cstdint>
#include <iterator>
#include <map>

#include <fmt/format.h>

namespace ebpfrun::metrics {
namespace {

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// The family name of the HELP/TYPE lines.
std::string_view family_name(const Family& family, Format format) {
  std::string_view name = family.name;
  if (format == Format::openmetrics && family.type == Type::counter && ends_with(name, "_total")) name.remove_suffix(6);
  return name;
}

// Escapes straight into the output: a scrape of 10k series must not build
// a temporary string per label.
void append_escaped_label(std::string& out, std::string_view value) {
  for (char c : value) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
}

void append_value(std::string& out, double value) {
  if (std::isnan(value)) {
    out += "NaN";
  } else if (std::isinf(value)) {
    out += value > 0 ? "+Inf" : "-Inf";
  } else if (value == std::floor(value) && std::fabs(value) < 9007199254740992.0) {
    fmt::format_to(std::back_inserter(out), "{}", static_cast<int64_t>(value));
  } else {
    fmt::format_to(std::back_inserter(out), "{}", value);
  }
}

void append_labels(std::string& out, const std::vector<std::string>& names, const std::vector<std::string>& values,
                   std::string_view extra_name = {}, std::string_view extra_value = {}) {
  size_t n = std::min(names.size(), values.size());
  if (n == 0 && extra_name.empty()) return;
  out += '{';
  for (size_t i = 0; i < n; ++i) {
    if (i > 0) out += ',';
    out += names[i];
    out += "=\"";
    append_escaped_label(out, values[i]);
    out += '"';
  }
  if (!extra_name.empty()) {
    if (n > 0) out += ',';
    out += extra_name;
    out += "=\"";
    out += extra_value;
    out += '"';
  }
  out += '}';
}

void append_sample(std::string& out, std::string_view name, std::string_view suffix, const Family& family,
                   const std::vector<std::string>& values, double value, std::string_view extra_name = {},
                   std::string_view extra_value = {}) {
  out += name;
  out += suffix;
  append_labels(out, family.label_names, values, extra_name, extra_value);
  out += ' ';
  append_value(out, value);
  out += '\n';
}

void append_histogram(std::string& out, const Family& family, const HistogramSample& h) {
  bool has_inf = false;
  double last = 0;
  for (const auto& [upper, cumulative] : h.buckets) {
    append_sample(out, family.name, "_bucket", family, h.label_values, cumulative, "le", format_value(upper));
    if (std::isinf(upper) && upper > 0) has_inf = true;
    last = cumulative;
  }
  if (!has_inf)
    append_sample(out, family.name, "_bucket", family, h.label_values, std::max(last, h.count), "le", "+Inf");
  append_sample(out, family.name, "_sum", family, h.label_values, h.sum);
  append_sample(out, family.name, "_count", family, h.label_values, h.count);
}

}  // namespace

Format negotiate(std::string_view accept_header) {
  return accept_header.find("application/openmetrics-text") != std::string_view::npos ? Format::openmetrics
                                                                                      : Format::text;
}

const char* content_type(Format format) {
  return format == Format::openmetrics ? kOpenMetricsContentType : kTextContentType;
}

std::string escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  append_escaped_label(out, value);
  return out;
}

std::string escape_help(std::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (char c : help) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string format_value(double value) {
  // Whole numbers (counts, bytes) print exactly, without an exponent.
  std::string out;
  append_value(out, value);
  return out;
}

std::string render(const std::vector<const Family*>& families, Format format, bool terminate) {
  // Families of one name, in the order their first member appeared.
  std::vector<std::vector<const Family*>> groups;
  std::map<std::string_view, size_t> index;
  for (const Family* f : families) {
    auto [it, inserted] = index.emplace(f->name, groups.size());
    if (inserted) groups.emplace_back();
    groups[it->second].push_back(f);
  }
  std::string out;
  size_t total = 0;
  for (const Family* f : families) total += f->series();
  out.reserve(256 + total * 96);
  for (const auto& group : groups) {
    const Family& head = *group.front();
    std::string_view name = family_name(head, format);
    out += "# HELP ";
    out += name;
    out += ' ';
    out += escape_help(head.help);
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += type_name(head.type);
    out += '\n';
    for (const Family* f : group) {
      if (f->type != head.type) continue;  // one type per family name; a clash is a collector bug
      if (f->type == Type::histogram) {
        for (const auto& h : f->histograms) append_histogram(out, *f, h);
      } else {
        for (const auto& s : f->samples) append_sample(out, f->name, "", *f, s.label_values, s.value);
      }
    }
  }
  if (terminate && format == Format::openmetrics) out += "# EOF\n";
  return out;
}

std::string_view type_name(Type type) {
  switch (type) {
    case Type::counter:
      return "counter";
    case Type::gauge:
      return "gauge";
    case Type::histogram:
      return "histogram";
  }
  return "untyped";
}

bool parse_type(std::string_view text, Type& out) {
  if (text == "counter")
    out = Type::counter;
  else if (text == "gauge")
    out = Type::gauge;
  else if (text == "histogram")
    out = Type::histogram;
  else
    return false;
  return true;
}

}  // namespace ebpfrun::metrics

// runtime/metrics — Prometheus naming rules for metric and label names.
//
// The same checks `promtool check metrics` makes (client_golang's promlint):
// valid characters, snake_case, counters ending in _total, base units
// (seconds, bytes) rather than milli-/micro-/kilo- ones or abbreviations, no
// type in the name, no _bucket/_sum/_count suffix outside histograms, no "le"
// label on a histogram, no reserved "__" label names, and a help text. Used by
// `ebpfrun agent --check` before anything is loaded, and by tests.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "metrics/family.h"

namespace ebpfrun::metrics {

bool valid_metric_name(std::string_view name);
bool valid_label_name(std::string_view name);

// One sentence per problem, each naming the metric; empty when clean.
std::vector<std::string> lint(std::string_view name, Type type, std::string_view help,
                              const std::vector<std::string>& label_names);

}  // namespace ebpfrun::metrics

// runtime/metrics — the data a scrape serves: metric families with their
// samples, as plain values. A collector builds them (on the Lua side, through
// the bindings) and publishes them whole; the exposition code only reads them.
// Label values are stored in the order of the family's label names, so a
// family of 10,000 series carries its label names once.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace ebpfrun::metrics {

enum class Type { counter, gauge, histogram };

std::string_view type_name(Type type);
// "counter", "gauge", "histogram"; false for anything else.
bool parse_type(std::string_view text, Type& out);

struct Sample {
  std::vector<std::string> label_values;  // parallel to Family::label_names
  double value = 0;
};

// One histogram series: cumulative counts per upper bound, ascending, the last
// bound +Inf (the renderer adds it when missing).
struct HistogramSample {
  std::vector<std::string> label_values;
  std::vector<std::pair<double, double>> buckets;  // (upper bound "le", cumulative count)
  double sum = 0;
  double count = 0;
};

struct Family {
  std::string name;  // counters keep their _total suffix here, as in the text format
  std::string help;
  Type type = Type::gauge;
  std::vector<std::string> label_names;
  std::vector<Sample> samples;              // counters and gauges
  std::vector<HistogramSample> histograms;  // histograms

  size_t series() const { return type == Type::histogram ? histograms.size() : samples.size(); }
};

}  // namespace ebpfrun::metrics

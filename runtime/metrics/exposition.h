// runtime/metrics — the Prometheus exposition formats.
//
// Text format 0.0.4 (what every Prometheus version reads) and OpenMetrics
// 1.0 (chosen when the scraper's Accept header asks for
// application/openmetrics-text). They differ in three places this code cares
// about: OpenMetrics names a counter family without its _total suffix in the
// HELP/TYPE lines (the samples keep it), ends with "# EOF", and has its own
// content type. Families of the same name from different snapshots are
// rendered as one family (one HELP/TYPE block), because both formats require
// a family's samples to be contiguous.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "metrics/family.h"

namespace ebpfrun::metrics {

enum class Format { text, openmetrics };

inline constexpr const char* kTextContentType = "text/plain; version=0.0.4; charset=utf-8";
inline constexpr const char* kOpenMetricsContentType = "application/openmetrics-text; version=1.0.0; charset=utf-8";

// The format an Accept header asks for (OpenMetrics only when it is named).
Format negotiate(std::string_view accept_header);
const char* content_type(Format format);

// Renders the families (pointers into published snapshots) in order; families
// sharing a name are merged under the first one's HELP/TYPE.
// `terminate` = false leaves out OpenMetrics' "# EOF", for a body rendered in parts.
std::string render(const std::vector<const Family*>& families, Format format, bool terminate = true);

// Escaping as the text formats define it: label values escape \ " and newline;
// HELP text escapes \ and newline.
std::string escape_label_value(std::string_view value);
std::string escape_help(std::string_view help);
// A sample value: integers without a fraction, +Inf / -Inf / NaN spelled out.
std::string format_value(double value);

}  // namespace ebpfrun::metrics

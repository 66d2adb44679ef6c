// runtime/attach — "did you mean …?" for names a person typed.
//
// Every lookup that can fail on a misspelt name (tracepoints, categories,
// symbols, perf events, USDT probes) ranks the names that do exist with the
// same small Levenshtein distance, so suggestions look alike everywhere.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace ebpfrun::attach {

// Edit distance (insertions, deletions, substitutions) between a and b.
size_t edit_distance(std::string_view a, std::string_view b);

// Up to `limit` candidates close to `query`, best first: those within a small
// edit distance (at most a third of the query's length, and at most one more
// than the closest), or when none is that close, those that contain the query.
// Empty when nothing is plausibly what was meant.
std::vector<std::string> nearest(std::string_view query, const std::vector<std::string>& candidates, size_t limit = 5);

// "a, b or c" with each name wrapped in `prefix` … `suffix` (for example quotes).
std::string join_alternatives(const std::vector<std::string>& names, std::string_view prefix = "",
                              std::string_view suffix = "");

}  // namespace ebpfrun::attach

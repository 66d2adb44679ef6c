#include "attach/nearest.h"

#include <algorithm>
#include <tuple>

namespace ebpfrun::attach {

size_t edit_distance(std::string_view a, std::string_view b) {
  // One row of the classic dynamic programme is enough.
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t above = row[j];
      size_t substitute = diagonal + (a[i - 1] == b[j - 1] ? 0 : 1);
      row[j] = std::min({above + 1, row[j - 1] + 1, substitute});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::vector<std::string> nearest(std::string_view query, const std::vector<std::string>& candidates, size_t limit) {
  const size_t max_distance = std::max<size_t>(2, query.size() / 3);
  // (rank, distance, name): rank 0 = close by edit distance, 1 = contains the query.
  std::vector<std::tuple<int, size_t, std::string_view>> scored;
  for (const auto& candidate : candidates) {
    if (candidate == query) continue;
    size_t length_gap =
        candidate.size() > query.size() ? candidate.size() - query.size() : query.size() - candidate.size();
    size_t distance = length_gap <= max_distance ? edit_distance(query, candidate) : length_gap;
    if (distance <= max_distance)
      scored.emplace_back(0, distance, candidate);
    else if (query.size() >= 3 && candidate.find(query) != std::string::npos)
      scored.emplace_back(1, candidate.size(), candidate);
  }
  std::sort(scored.begin(), scored.end());
  // Names about as close as the best one; containment only when nothing is close.
  const bool any_close = !scored.empty() && std::get<0>(scored.front()) == 0;
  const size_t best = any_close ? std::get<1>(scored.front()) : 0;
  std::vector<std::string> out;
  for (const auto& [rank, distance, name] : scored) {
    if (out.size() == limit || (any_close && (rank != 0 || distance > best + 1))) break;
    if (std::find(out.begin(), out.end(), name) == out.end()) out.emplace_back(name);
  }
  return out;
}

std::string join_alternatives(const std::vector<std::string>& names, std::string_view prefix, std::string_view suffix) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += (i + 1 == names.size()) ? " or " : ", ";
    out.append(prefix).append(names[i]).append(suffix);
  }
  return out;
}

}  // namespace ebpfrun::attach

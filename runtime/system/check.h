// runtime/system — one line of a preflight or `ebpfrun doctor` report.
//
// Every check the runtime makes about the machine (capabilities, mounted file
// systems, kernel features) ends up as a Check: a short name, a status, and one
// sentence that says what is there or what is missing and how to fix it. A
// check is "blocking" when a normal run cannot go on if it failed; everything
// else only limits what a script may use.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace ebpfrun::system {

enum class CheckStatus {
  ok,       // present and usable
  warning,  // missing or degraded, but a run can go on (some features unavailable)
  failed,   // missing; blocks a run when the check is blocking
  fixed,    // was missing and the runtime fixed it (e.g. mounted tracefs)
};

std::string_view status_name(CheckStatus status);

struct Check {
  std::string name;
  CheckStatus status = CheckStatus::ok;
  std::string detail;     // one sentence: what was found, or what is missing and how to fix it
  bool blocking = false;  // a failure of this check stops a normal run
};

inline Check make_check(std::string name, CheckStatus status, std::string detail, bool blocking = false) {
  return Check{std::move(name), status, std::move(detail), blocking};
}

// True when the check failed and a run cannot go on without it.
inline bool is_blocking_failure(const Check& check) { return check.status == CheckStatus::failed && check.blocking; }
bool has_blocking_failure(const std::vector<Check>& checks);

// The checks as an aligned table with a CHECK / STATUS / DETAIL header, one
// check per line, for people.
std::string format_table(const std::vector<Check>& checks);
// One check as a single-line JSON object (no trailing newline), for programs:
// {"check":"...","status":"ok","blocking":false,"detail":"..."}, where
// "blocking" is true when this check's failure stops a run.
std::string to_json_line(const Check& check);
// JSON string literal (with quotes) for arbitrary text.
std::string json_quote(std::string_view text);

}  // namespace ebpfrun::system

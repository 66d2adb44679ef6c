// Fuzz target: the /*FILTER*/ spec parser (add_filter_value) and the template
// expansion (render_filter, apply_filter).
//
// Input: lines "FIELD=VALUE" (a value may spell any byte as \xHH, so a comm can
// hold a newline or a NUL), then an empty line, then BPF C source text.
//
// Besides crashes and sanitizer findings, it checks the property that makes the
// template safe to feed user input: whatever the values, the generated C is made
// of the generator's own identifiers and punctuation plus numeric literals, and
// the numbers are exactly the accepted values (comm bytes as 0xHH). So no text
// of the input can reach the compiler except as a number: no string or character
// literal, no comment, no preprocessor line, no newline.
#include <algorithm>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/log.h"
#include "fuzz_check.h"
#include "template/filter.h"

using namespace ebpfrun;

namespace {

std::string unescape(std::string_view text) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\' && i + 3 < text.size() && text[i + 1] == 'x' && hex(text[i + 2]) >= 0 &&
        hex(text[i + 3]) >= 0) {
      out += static_cast<char>(hex(text[i + 2]) * 16 + hex(text[i + 3]));
      i += 3;
    } else {
      out += text[i];
    }
  }
  return out;
}

bool is_ident_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_ident(char c) { return is_ident_start(c) || (c >= '0' && c <= '9'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Checks the generated C token by token against what the generator may emit.
void check_rendered(const std::string& code, const tmpl::FilterSpec& spec) {
  static const std::set<std::string_view> identifiers = {"unsigned",
                                                         "long",
                                                         "int",
                                                         "char",
                                                         "void",
                                                         "if",
                                                         "return",
                                                         "sizeof",
                                                         "__ebpfrun_pid_tgid",
                                                         "__ebpfrun_uid_gid",
                                                         "__ebpfrun_cgroup_id",
                                                         "__ebpfrun_comm"};
  // Numbers the generator writes itself: helper ids, the comm buffer's size and
  // indexes, the shift of the tgid, the return value.
  std::set<uint64_t> u32s(spec.pids.begin(), spec.pids.end());
  u32s.insert(spec.tids.begin(), spec.tids.end());
  u32s.insert(spec.uids.begin(), spec.uids.end());
  const std::set<uint64_t> u64s(spec.cgroup_ids.begin(), spec.cgroup_ids.end());
  std::set<uint64_t> bytes;
  for (const auto* list : {&spec.comms, &spec.comm_prefixes})
    for (const std::string& comm : *list)
      for (unsigned char c : comm) bytes.insert(c);

  int parens = 0;
  int braces = 0;
  int brackets = 0;
  for (size_t i = 0; i < code.size();) {
    const char c = code[i];
    if (c == ' ') {
      ++i;
    } else if (is_ident_start(c)) {
      size_t end = i;
      while (end < code.size() && is_ident(code[end])) ++end;
      FUZZ_CHECK(identifiers.count(std::string_view(code).substr(i, end - i)) == 1,
                 "generated C contains an identifier the generator does not emit");
      i = end;
    } else if (is_digit(c)) {
      size_t end = i;
      while (end < code.size() && (is_ident(code[end]))) ++end;
      const std::string number = code.substr(i, end - i);
      if (number.starts_with("0x")) {
        FUZZ_CHECK(number.size() == 4, "a comm byte is not written as 0xHH");
        FUZZ_CHECK(bytes.count(std::stoull(number, nullptr, 16)) == 1, "a comm byte that no comm value holds");
      } else if (number.ends_with("ULL")) {
        FUZZ_CHECK(u64s.count(std::stoull(number.substr(0, number.size() - 3))) == 1,
                   "a 64-bit literal that is not a cgroup id of the spec");
      } else if (number.ends_with("U")) {
        FUZZ_CHECK(u32s.count(std::stoull(number.substr(0, number.size() - 1))) == 1,
                   "a 32-bit literal that is not a pid, tid or uid of the spec");
      } else {
        FUZZ_CHECK(std::all_of(number.begin(), number.end(), is_digit) && number.size() <= 2,
                   "an unsuffixed literal that is not one of the generator's small constants");
      }
      i = end;
    } else {
      // Punctuation: no quote, slash, backslash, '#' or control byte can appear,
      // so there is no string, character literal, comment or directive.
      FUZZ_CHECK(std::string_view("(){}[];=!|&>*,").find(c) != std::string_view::npos,
                 "generated C contains a character outside the generator's punctuation");
      parens += c == '(' ? 1 : c == ')' ? -1 : 0;
      braces += c == '{' ? 1 : c == '}' ? -1 : 0;
      brackets += c == '[' ? 1 : c == ']' ? -1 : 0;
      FUZZ_CHECK(parens >= 0 && braces >= 0 && brackets >= 0, "generated C closes a bracket it did not open");
      ++i;
    }
  }
  FUZZ_CHECK(parens == 0 && braces == 0 && brackets == 0, "generated C leaves a bracket open");
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // cgroup paths that resolve to a non-cgroup2 directory log a warning per input.
  log::set_level(log::Level::error);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t blank = input.find("\n\n");
  const std::string_view spec_text = input.substr(0, blank);
  const std::string_view source = blank == std::string_view::npos ? std::string_view() : input.substr(blank + 2);

  tmpl::FilterSpec spec;
  size_t pos = 0;
  while (pos <= spec_text.size()) {
    size_t end = spec_text.find('\n', pos);
    if (end == std::string_view::npos) end = spec_text.size();
    const std::string_view line = spec_text.substr(pos, end - pos);
    pos = end + 1;
    const size_t eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    const std::string value = unescape(line.substr(eq + 1));
    auto added = tmpl::add_filter_value(spec, line.substr(0, eq), value);
    if (!added) FUZZ_CHECK(fuzz::printable(added.error()), "an error message carries raw control bytes");
  }
  for (const auto* list : {&spec.comms, &spec.comm_prefixes})
    for (const std::string& comm : *list)
      FUZZ_CHECK(!comm.empty() && comm.size() <= 15 && comm.find('\0') == std::string::npos,
                 "an accepted comm the kernel could never hold");

  const std::string code = tmpl::render_filter(spec);
  FUZZ_CHECK(spec.empty() == code.empty(), "an empty spec renders code, or a non-empty one none");
  check_rendered(code, spec);

  auto applied = tmpl::apply_filter(source, spec, "<fuzz>");
  std::string expected;
  size_t placeholders = 0;
  for (size_t from = 0;;) {
    const size_t hit = source.find("/*FILTER*/", from);
    expected.append(source.substr(from, hit == std::string_view::npos ? std::string_view::npos : hit - from));
    if (hit == std::string_view::npos) break;
    expected += code;
    ++placeholders;
    from = hit + 10;
  }
  if (!applied) {
    FUZZ_CHECK(placeholders == 0 && !spec.empty(), "apply_filter failed although it had a placeholder to fill");
    FUZZ_CHECK(fuzz::printable(applied.error()), "an error message carries raw control bytes");
    return 0;
  }
  FUZZ_CHECK(*applied == expected, "apply_filter changed the source outside its placeholders");
  FUZZ_CHECK(std::count(applied->begin(), applied->end(), '\n') == std::count(source.begin(), source.end(), '\n'),
             "filling placeholders moved the source's line numbers");
  return 0;
}

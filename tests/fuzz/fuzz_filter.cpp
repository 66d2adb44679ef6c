// Fuzz target: the /*FILTER*/ spec parser (add_filter_value) and the template
// expansion (render_filter, apply_filter).
//
// Input: lines "FIELD=VALUE" (a value may spell any byte as \xHH, so a comm can
// hold a newline or a NUL), then an empty line, then BPF C source text.
//
// Besides crashes and sanitizer findings, it checks the property that makes the
// template safe to feed user input: no value reaches the compiler at all. The
// generated C (the checks and the appended definitions) is made of the
// generator's own identifiers, punctuation and small constants, and it is the
// same text as for a spec with the same fields and other values; the values
// are only data, in the bytes filter_globals gives the object's .rodata, and
// those bytes are exactly the accepted values.
#include <algorithm>
#include <cstdint>
#include <cstring>
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
void check_rendered(const std::string& code) {
  static const std::set<std::string_view> identifiers = {"unsigned",
                                                         "long",
                                                         "int",
                                                         "void",
                                                         "if",
                                                         "return",
                                                         "sizeof",
                                                         "extern",
                                                         "const",
                                                         "volatile",
                                                         "__ebpfrun_pid_tgid",
                                                         "__ebpfrun_uid_gid",
                                                         "__ebpfrun_cgroup_id",
                                                         "__ebpfrun_comm",
                                                         "__ebpfrun_n",
                                                         "ebpfrun_filter_pid",
                                                         "ebpfrun_filter_tid",
                                                         "ebpfrun_filter_uid",
                                                         "ebpfrun_filter_cgroup",
                                                         "ebpfrun_filter_exclude_pid",
                                                         "ebpfrun_filter_comm",
                                                         "ebpfrun_filter_comm_prefix",
                                                         "ebpfrun_filter_pid_count",
                                                         "ebpfrun_filter_tid_count",
                                                         "ebpfrun_filter_uid_count",
                                                         "ebpfrun_filter_cgroup_count",
                                                         "ebpfrun_filter_exclude_pid_count",
                                                         "ebpfrun_filter_comm_count",
                                                         "ebpfrun_filter_comm_prefix_count"};
  // Numbers the generator writes itself: helper ids, array sizes and indexes,
  // the shift of the tgid, the return value. Never a value of the spec.
  static const std::set<uint64_t> constants = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 32, 80};

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
      FUZZ_CHECK(number.size() <= 2 && std::all_of(number.begin(), number.end(), is_digit) &&
                     constants.count(std::stoull(number)) == 1,
                 "a literal that is not one of the generator's small constants");
      i = end;
    } else {
      // Punctuation: no quote, slash, backslash, '#' or control byte can appear,
      // so there is no string, character literal, comment or directive.
      FUZZ_CHECK(std::string_view("(){}[];=!|&<>*,").find(c) != std::string_view::npos,
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

// The same fields as `spec`, each with one fixed value: the code of both must
// be the same text, or a value leaked into the code.
tmpl::FilterSpec same_shape(const tmpl::FilterSpec& spec) {
  tmpl::FilterSpec shape;
  if (!spec.pids.empty()) shape.pids = {1};
  if (!spec.tids.empty()) shape.tids = {1};
  if (!spec.comms.empty()) shape.comms = {"q"};
  if (!spec.comm_prefixes.empty()) shape.comm_prefixes = {"q"};
  if (!spec.uids.empty()) shape.uids = {1};
  if (!spec.cgroup_ids.empty()) shape.cgroup_ids = {1};
  if (!spec.exclude_pids.empty()) shape.exclude_pids = {1};
  return shape;
}

const std::string* bytes_of(const std::vector<tmpl::FilterGlobal>& globals, const std::string& name) {
  auto it = std::find_if(globals.begin(), globals.end(), [&](const auto& g) { return g.name == name; });
  return it == globals.end() ? nullptr : &it->bytes;
}

// The count says how many values there are.
void check_count(const std::vector<tmpl::FilterGlobal>& globals, const std::string& name, size_t count) {
  const std::string* bytes = bytes_of(globals, name + "_count");
  FUZZ_CHECK(bytes && bytes->size() == 4, "a set field has no count");
  uint32_t n = 0;
  std::memcpy(&n, bytes->data(), 4);
  FUZZ_CHECK(n == count, "a count that is not the number of values");
}

// The value bytes hold exactly the spec's values, the unused slots zero.
template <typename T>
void check_slots(const std::vector<tmpl::FilterGlobal>& globals, const std::string& name,
                 const std::vector<T>& values) {
  if (values.empty()) {
    FUZZ_CHECK(!bytes_of(globals, name) && !bytes_of(globals, name + "_count"), "an unset field has values");
    return;
  }
  const std::string* bytes = bytes_of(globals, name);
  FUZZ_CHECK(bytes, "a set field has no value array");
  FUZZ_CHECK(bytes->size() == tmpl::kMaxFilterValues * sizeof(T), "a value array of the wrong size");
  check_count(globals, name, values.size());
  for (size_t i = 0; i < tmpl::kMaxFilterValues; ++i) {
    T slot{};
    std::memcpy(&slot, bytes->data() + i * sizeof(T), sizeof(T));
    FUZZ_CHECK(slot == (i < values.size() ? values[i] : T{}), "a value array slot that is not the spec's value");
  }
}

void check_comm_slots(const std::vector<tmpl::FilterGlobal>& globals, const std::string& name,
                      const std::vector<std::string>& values, bool exact) {
  if (values.empty()) {
    FUZZ_CHECK(!bytes_of(globals, name), "an unset comm field has values");
    return;
  }
  const std::string* bytes = bytes_of(globals, name);
  FUZZ_CHECK(bytes && bytes->size() == tmpl::kMaxFilterValues * 32, "a bad comm value array");
  check_count(globals, name, values.size());
  for (size_t i = 0; i < tmpl::kMaxFilterValues; ++i) {
    if (i >= values.size()) {
      FUZZ_CHECK(bytes->substr(i * 32, 32) == std::string(32, '\0'), "an unused comm slot is not zero");
      continue;
    }
    const std::string& value = values[i];
    const std::string text = bytes->substr(i * 32, 16);
    const std::string mask = bytes->substr(i * 32 + 16, 16);
    const size_t masked = value.size() + (exact ? 1 : 0);
    FUZZ_CHECK(text == value + std::string(16 - value.size(), '\0'), "a comm slot that is not the spec's comm");
    FUZZ_CHECK(mask == std::string(masked, '\xff') + std::string(16 - masked, '\0'), "a comm slot with a bad mask");
  }
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
  const std::string definitions = tmpl::render_filter_definitions(spec);
  FUZZ_CHECK(spec.empty() == code.empty(), "an empty spec renders code, or a non-empty one none");
  FUZZ_CHECK(spec.empty() == definitions.empty(), "an empty spec renders definitions, or a non-empty one none");
  check_rendered(code);
  check_rendered(definitions);
  const tmpl::FilterSpec shape = same_shape(spec);
  FUZZ_CHECK(code == tmpl::render_filter(shape), "the code depends on the values, not only on the fields");
  FUZZ_CHECK(definitions == tmpl::render_filter_definitions(shape), "the definitions depend on the values");
  const auto globals = tmpl::filter_globals(spec);
  check_slots(globals, "ebpfrun_filter_pid", spec.pids);
  check_slots(globals, "ebpfrun_filter_tid", spec.tids);
  check_slots(globals, "ebpfrun_filter_uid", spec.uids);
  check_slots(globals, "ebpfrun_filter_cgroup", spec.cgroup_ids);
  check_slots(globals, "ebpfrun_filter_exclude_pid", spec.exclude_pids);
  check_comm_slots(globals, "ebpfrun_filter_comm", spec.comms, true);
  check_comm_slots(globals, "ebpfrun_filter_comm_prefix", spec.comm_prefixes, false);

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
  if (!spec.empty()) expected += "\n\n" + definitions + "\n";
  FUZZ_CHECK(*applied == expected, "apply_filter changed the source outside its placeholders");
  // Only the appended definitions add lines (a blank one and theirs), after the source's last.
  FUZZ_CHECK(std::count(applied->begin(), applied->end(), '\n') ==
                 std::count(source.begin(), source.end(), '\n') + (spec.empty() ? 0 : 3),
             "filling placeholders moved the source's line numbers");
  return 0;
}

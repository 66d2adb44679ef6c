// The code side of the /*FILTER*/ template: the checks a placeholder expands
// to, the definitions of the .rodata arrays they read, and the bytes those
// arrays are given. The checks and definitions depend only on which fields are
// set; the values travel as data (filter_globals), never as C text.
#include <algorithm>
#include <cstring>
#include <functional>

#include <fmt/format.h>

#include "common/log.h"
#include "template/filter.h"

namespace ebpfrun::tmpl {
namespace {

constexpr std::string_view kPlaceholder = "/*FILTER*/";

// The generated code calls BPF helpers by their numeric ids through a function
// pointer cast, exactly as bpf_helper_defs.h does under the hood. The ids are part
// of the kernel's stable ABI, so this is safe, and it means the filter compiles
// whether or not the program includes bpf_helpers.h (or vmlinux.h, or anything).
// For the same reason only builtin C types are used: __u32 and friends may be
// undefined in the program.
constexpr std::string_view kGetPidTgid = "((unsigned long long (*)(void))14)()";
constexpr std::string_view kGetUidGid = "((unsigned long long (*)(void))15)()";
constexpr std::string_view kGetComm = "((long (*)(void *, unsigned int))16)";
constexpr std::string_view kGetCgroupId = "((unsigned long long (*)(void))80)()";

// A comm entry is four 64-bit words: the 16 comm bytes (zero after the text),
// then a mask of the bytes that must match. An exact comm's mask covers its
// terminating zero; a prefix's does not.
constexpr size_t kCommWords = 4;

// How one numeric field is stored and what it is compared with.
struct NumericField {
  std::string_view name;
  std::string_view c_type;      // the element type of its array
  std::string_view expression;  // the current task's value, as a C expression
};

constexpr NumericField kExcludePid{"exclude_pid", "unsigned int", "(unsigned int)(__ebpfrun_pid_tgid >> 32)"};
constexpr NumericField kPid{"pid", "unsigned int", "(unsigned int)(__ebpfrun_pid_tgid >> 32)"};
constexpr NumericField kTid{"tid", "unsigned int", "(unsigned int)__ebpfrun_pid_tgid"};
constexpr NumericField kUid{"uid", "unsigned int", "(unsigned int)__ebpfrun_uid_gid"};
constexpr NumericField kCgroup{"cgroup", "unsigned long long", "__ebpfrun_cgroup_id"};

std::string global_name(std::string_view field) { return fmt::format("ebpfrun_filter_{}", field); }

std::string count_declaration(std::string_view field) {
  return fmt::format("const volatile unsigned int {}_count", global_name(field));
}

std::string numeric_declaration(const NumericField& field) {
  return fmt::format("const volatile {} {}[{}]", field.c_type, global_name(field.name), kMaxFilterValues);
}

std::string comm_declaration(std::string_view field) {
  return fmt::format("const volatile unsigned long long {}[{}][{}]", global_name(field), kMaxFilterValues, kCommWords);
}

// "(0 < n && (x == a[0] || (1 < n && (x == a[1] || ...))))" over every
// slot, so the code is the same for one value or sixteen. The count n is a
// constant to the verifier (.rodata is frozen), so the first slot beyond it
// ends the check: the slots past it are dead code the verifier removes, and
// one value costs one comparison at run time.
std::string any_slot(const std::function<std::string(size_t)>& test, size_t i = 0) {
  if (i + 1 == kMaxFilterValues) return fmt::format("({} < __ebpfrun_n && {})", i, test(i));
  return fmt::format("({} < __ebpfrun_n && ({} || {}))", i, test(i), any_slot(test, i + 1));
}

std::string any_number(const NumericField& field) {
  const std::string array = global_name(field.name);
  return any_slot([&](size_t i) { return fmt::format("{} == {}[{}]", field.expression, array, i); });
}

std::string any_comm(std::string_view field) {
  const std::string array = global_name(field);
  return any_slot([&](size_t i) {
    return fmt::format(
        "((__ebpfrun_comm[0] & {0}[{1}][2]) == {0}[{1}][0] && "
        "(__ebpfrun_comm[1] & {0}[{1}][3]) == {0}[{1}][1])",
        array, i);
  });
}

std::string reject_unless(const std::string& condition) { return fmt::format(" if (!{}) return 0;", condition); }

// One field's check in a block of its own: the declarations of its array and
// count, the count read once into __ebpfrun_n, and `statement` using them.
std::string field_block(std::string_view field, const std::string& array, const std::string& statement) {
  return fmt::format(" {{ extern {}; extern {}; unsigned int __ebpfrun_n = {}_count;{} }}", array,
                     count_declaration(field), global_name(field), statement);
}

template <typename T>
std::string slots_of(const std::vector<T>& values) {
  std::string bytes(kMaxFilterValues * sizeof(T), '\0');
  for (size_t i = 0; i < values.size() && i < kMaxFilterValues; ++i)
    std::memcpy(bytes.data() + i * sizeof(T), &values[i], sizeof(T));
  return bytes;
}

std::string comm_slots(const std::vector<std::string>& comms, bool exact) {
  std::string bytes(kMaxFilterValues * kCommWords * sizeof(uint64_t), '\0');
  for (size_t i = 0; i < comms.size() && i < kMaxFilterValues; ++i) {
    const std::string& text = comms[i];
    unsigned char entry[kCommWords * sizeof(uint64_t)] = {};
    std::memcpy(entry, text.data(), std::min<size_t>(text.size(), 16));
    const size_t masked = std::min<size_t>(text.size() + (exact ? 1 : 0), 16);
    std::memset(entry + 16, 0xff, masked);
    std::memcpy(bytes.data() + i * sizeof entry, entry, sizeof entry);
  }
  return bytes;
}

// The bit of each field in ebpfrun_filter_fields (the full form's mask of the
// fields that are set), in known_filter_fields order.
constexpr unsigned kPidBit = 1, kTidBit = 2, kCommBit = 4, kCommPrefixBit = 8, kUidBit = 16, kCgroupBit = 32,
                   kExcludePidBit = 64;
constexpr std::string_view kFieldsGlobal = "ebpfrun_filter_fields";

unsigned fields_mask(const FilterSpec& spec) {
  return (spec.pids.empty() ? 0 : kPidBit) | (spec.tids.empty() ? 0 : kTidBit) | (spec.comms.empty() ? 0 : kCommBit) |
         (spec.comm_prefixes.empty() ? 0 : kCommPrefixBit) | (spec.uids.empty() ? 0 : kUidBit) |
         (spec.cgroup_ids.empty() ? 0 : kCgroupBit) | (spec.exclude_pids.empty() ? 0 : kExcludePidBit);
}

// The full form: every field's check, under the bit of its field in one
// `const volatile` mask. The mask is a constant to the verifier, so the
// checks (and helper calls) of unset fields are dead code it removes; with no
// filter at all the whole block is one load and one branch. A set field's
// count is at least 1, so its check is the fitted form's.
std::string render_full_filter() {
  std::string out = fmt::format(
      "{{ extern const volatile unsigned int {0}; unsigned int __ebpfrun_fields = {0}; if (__ebpfrun_fields) {{",
      kFieldsGlobal);
  for (const NumericField* field : {&kExcludePid, &kPid, &kTid, &kUid, &kCgroup})
    out += fmt::format(" extern {}; extern {};", numeric_declaration(*field), count_declaration(field->name));
  for (std::string_view field : {"comm", "comm_prefix"})
    out += fmt::format(" extern {}; extern {};", comm_declaration(field), count_declaration(field));
  out +=
      " unsigned long long __ebpfrun_pid_tgid = 0, __ebpfrun_uid_gid = 0, __ebpfrun_cgroup_id = 0;"
      " unsigned long long __ebpfrun_comm[2] = {0, 0};";
  out += fmt::format(" if (__ebpfrun_fields & {}) __ebpfrun_pid_tgid = {};", kPidBit | kTidBit | kExcludePidBit,
                     kGetPidTgid);
  out += fmt::format(" if (__ebpfrun_fields & {}) __ebpfrun_uid_gid = {};", kUidBit, kGetUidGid);
  out += fmt::format(" if (__ebpfrun_fields & {}) __ebpfrun_cgroup_id = {};", kCgroupBit, kGetCgroupId);
  auto block = [](unsigned bit, std::string_view field, const std::string& statement) {
    return fmt::format(" if (__ebpfrun_fields & {}) {{ unsigned int __ebpfrun_n = {}_count;{} }}", bit,
                       global_name(field), statement);
  };
  out += block(kExcludePidBit, kExcludePid.name, fmt::format(" if {} return 0;", any_number(kExcludePid)));
  const std::pair<unsigned, const NumericField*> numeric[] = {
      {kPidBit, &kPid}, {kTidBit, &kTid}, {kUidBit, &kUid}, {kCgroupBit, &kCgroup}};
  for (const auto& [bit, field] : numeric) out += block(bit, field->name, reject_unless(any_number(*field)));
  out += fmt::format(" if (__ebpfrun_fields & {}) {{ {}(__ebpfrun_comm, sizeof(__ebpfrun_comm));",
                     kCommBit | kCommPrefixBit, kGetComm);
  out += block(kCommBit, "comm", reject_unless(any_comm("comm")));
  out += block(kCommPrefixBit, "comm_prefix", reject_unless(any_comm("comm_prefix")));
  return out + " } } }";
}

}  // namespace

std::string render_filter(const FilterSpec& spec, FilterForm form) {
  if (form == FilterForm::full) return render_full_filter();
  if (spec.empty()) return "";
  // Everything lives in one block so that the __ebpfrun_ variables cannot clash
  // with the program's own names, and several placeholders in a file each get
  // their own scope. The cheap numeric checks come before the comm copy.
  std::string out = "{";
  if (!spec.pids.empty() || !spec.tids.empty() || !spec.exclude_pids.empty())
    out += fmt::format(" unsigned long long __ebpfrun_pid_tgid = {};", kGetPidTgid);
  if (!spec.uids.empty()) out += fmt::format(" unsigned long long __ebpfrun_uid_gid = {};", kGetUidGid);
  if (!spec.cgroup_ids.empty()) out += fmt::format(" unsigned long long __ebpfrun_cgroup_id = {};", kGetCgroupId);
  const bool wants_comm = !spec.comms.empty() || !spec.comm_prefixes.empty();
  if (wants_comm) out += " unsigned long long __ebpfrun_comm[2] = {0, 0};";

  if (!spec.exclude_pids.empty())
    out += field_block(kExcludePid.name, numeric_declaration(kExcludePid),
                       fmt::format(" if {} return 0;", any_number(kExcludePid)));
  const std::pair<const NumericField*, bool> numeric[] = {{&kPid, !spec.pids.empty()},
                                                          {&kTid, !spec.tids.empty()},
                                                          {&kUid, !spec.uids.empty()},
                                                          {&kCgroup, !spec.cgroup_ids.empty()}};
  for (const auto& [field, set] : numeric)
    if (set) out += field_block(field->name, numeric_declaration(*field), reject_unless(any_number(*field)));
  if (wants_comm) {
    out += fmt::format(" {}(__ebpfrun_comm, sizeof(__ebpfrun_comm));", kGetComm);
    if (!spec.comms.empty()) out += field_block("comm", comm_declaration("comm"), reject_unless(any_comm("comm")));
    if (!spec.comm_prefixes.empty())
      out += field_block("comm_prefix", comm_declaration("comm_prefix"), reject_unless(any_comm("comm_prefix")));
  }
  return out + " }";
}

std::string render_filter_definitions(const FilterSpec& spec, FilterForm form) {
  const bool full = form == FilterForm::full;
  // Zero-initialised `const volatile` globals go to .rodata, and having
  // external linkage they are kept even where no placeholder reads them.
  std::vector<std::string> definitions;
  auto define = [&](std::string_view field, const std::string& array, std::string_view zero) {
    definitions.push_back(fmt::format("{} = {}; {} = 0;", array, zero, count_declaration(field)));
  };
  if (full || !spec.exclude_pids.empty()) define(kExcludePid.name, numeric_declaration(kExcludePid), "{0}");
  if (full || !spec.pids.empty()) define(kPid.name, numeric_declaration(kPid), "{0}");
  if (full || !spec.tids.empty()) define(kTid.name, numeric_declaration(kTid), "{0}");
  if (full || !spec.uids.empty()) define(kUid.name, numeric_declaration(kUid), "{0}");
  if (full || !spec.cgroup_ids.empty()) define(kCgroup.name, numeric_declaration(kCgroup), "{0}");
  if (full || !spec.comms.empty()) define("comm", comm_declaration("comm"), "{{0}}");
  if (full || !spec.comm_prefixes.empty()) define("comm_prefix", comm_declaration("comm_prefix"), "{{0}}");
  if (full) definitions.push_back(fmt::format("const volatile unsigned int {} = 0;", kFieldsGlobal));
  return fmt::format("{}", fmt::join(definitions, " "));
}

std::vector<FilterGlobal> filter_globals(const FilterSpec& spec, FilterForm form) {
  std::vector<FilterGlobal> out;
  // An empty spec writes nothing: the object's zeros already say "no filter",
  // and a source without a placeholder has no mask to write.
  if (form == FilterForm::full && !spec.empty()) {
    const uint32_t mask = fields_mask(spec);
    out.push_back({std::string(kFieldsGlobal), std::string(reinterpret_cast<const char*>(&mask), sizeof mask)});
  }
  auto add = [&](std::string_view field, size_t count, std::string bytes) {
    const auto n = static_cast<uint32_t>(std::min(count, kMaxFilterValues));
    out.push_back({global_name(field), std::move(bytes)});
    out.push_back({global_name(field) + "_count", std::string(reinterpret_cast<const char*>(&n), sizeof n)});
  };
  if (!spec.exclude_pids.empty()) add("exclude_pid", spec.exclude_pids.size(), slots_of(spec.exclude_pids));
  if (!spec.pids.empty()) add("pid", spec.pids.size(), slots_of(spec.pids));
  if (!spec.tids.empty()) add("tid", spec.tids.size(), slots_of(spec.tids));
  if (!spec.uids.empty()) add("uid", spec.uids.size(), slots_of(spec.uids));
  if (!spec.cgroup_ids.empty()) add("cgroup", spec.cgroup_ids.size(), slots_of(spec.cgroup_ids));
  if (!spec.comms.empty()) add("comm", spec.comms.size(), comm_slots(spec.comms, true));
  if (!spec.comm_prefixes.empty()) add("comm_prefix", spec.comm_prefixes.size(), comm_slots(spec.comm_prefixes, false));
  return out;
}

Result<std::string> apply_filter(std::string_view source, const FilterSpec& spec, std::string_view source_name,
                                 FilterForm form) {
  const std::vector<std::string> fields = set_filter_fields(spec);
  for (const std::string& field : fields) {
    const size_t count = field == "pid"           ? spec.pids.size()
                         : field == "tid"         ? spec.tids.size()
                         : field == "comm"        ? spec.comms.size()
                         : field == "comm_prefix" ? spec.comm_prefixes.size()
                         : field == "uid"         ? spec.uids.size()
                         : field == "cgroup"      ? spec.cgroup_ids.size()
                                                  : spec.exclude_pids.size();
    if (count > kMaxFilterValues)
      return make_error(
          ErrorKind::invalid_argument,
          fmt::format("too many {} filter values ({}): at most {} can be given", field, count, kMaxFilterValues));
  }
  // The replacement is a single line, so every line after a placeholder keeps
  // its number and compiler diagnostics still point at the user's source.
  const std::string code = render_filter(spec, form);
  std::string out;
  out.reserve(source.size() + code.size());
  size_t count = 0;
  size_t pos = 0;
  for (size_t hit; (hit = source.find(kPlaceholder, pos)) != std::string_view::npos; pos = hit + kPlaceholder.size()) {
    out.append(source.substr(pos, hit - pos));
    out += code;
    ++count;
  }
  out.append(source.substr(pos));

  if (count == 0 && !spec.empty())
    return make_error(ErrorKind::invalid_argument,
                      fmt::format("{} has no {} placeholder, so the filter ({}) cannot be applied", source_name,
                                  kPlaceholder, fmt::join(fields, ", ")));
  // The definitions go after the last line: lines keep their numbers, and the
  // blank line ends whatever the source ended with (a // comment, or a
  // directive continued by a backslash).
  if (!spec.empty() || (form == FilterForm::full && count > 0))
    out += "\n\n" + render_filter_definitions(spec, form) + "\n";
  log::debug("{}: filled {} {} placeholder(s)", source_name, count, kPlaceholder);
  return out;
}

}  // namespace ebpfrun::tmpl

// Unit tests for the /*FILTER*/ template component (runtime/template/filter.h).
#include <sys/stat.h>
#include <sys/statfs.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "common/log.h"
#include "template/filter.h"

using ebpfrun::tmpl::add_filter_value;
using ebpfrun::tmpl::apply_filter;
using ebpfrun::tmpl::FilterSpec;
using ebpfrun::tmpl::known_filter_fields;
using ebpfrun::tmpl::render_filter;
using ebpfrun::tmpl::render_filter_definitions;

namespace {

// Builds a spec from field/value pairs, failing the test if any value is refused.
FilterSpec spec_of(const std::vector<std::pair<std::string, std::string>>& values) {
  FilterSpec spec;
  for (const auto& [field, value] : values) {
    auto status = add_filter_value(spec, field, value);
    INFO(field << "=" << value);
    REQUIRE(status.ok());
  }
  return spec;
}

// The error for one value added to an empty spec ("" when it was accepted).
std::string error_for(const std::string& field, const std::string& value) {
  FilterSpec spec;
  auto status = add_filter_value(spec, field, value);
  if (status.ok()) return "";
  CHECK(spec.empty());  // A refused value must leave the spec untouched.
  return status.error();
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

size_t count_of(const std::string& haystack, const std::string& needle) {
  size_t n = 0;
  for (size_t pos = haystack.find(needle); pos != std::string::npos; pos = haystack.find(needle, pos + needle.size()))
    ++n;
  return n;
}

const std::string kProgram =
    "SEC(\"tp/syscalls/sys_enter_openat\")\nint handle(void *ctx) {\n"
    "    /*FILTER*/\n    bpf_printk(\"open\");\n    return 0;\n}\n";

}  // namespace

TEST_CASE("an empty spec renders to nothing and removes placeholders", "[filter]") {
  FilterSpec spec;
  CHECK((spec.empty() && render_filter(spec).empty()));

  const std::string source = "a /*FILTER*/ b\n  /*FILTER*/\nc/*FILTER*//*FILTER*/d\n";
  auto out = apply_filter(source, spec, "prog.bpf.c");
  REQUIRE(out.ok());
  CHECK(*out == "a  b\n  \ncd\n");

  // Without a placeholder the source passes through byte for byte.
  const std::string plain = "int f(void *ctx) { return 0; }\n";
  auto same = apply_filter(plain, spec, "prog.bpf.c");
  REQUIRE(same.ok());
  CHECK(*same == plain);
}

TEST_CASE("each field renders its own check, reading its values from .rodata", "[filter]") {
  struct Case {
    std::string field, value, helper, array;
  };
  const std::vector<Case> cases = {
      {"pid", "42", "((unsigned long long (*)(void))14)()", "const volatile unsigned int ebpfrun_filter_pid[16]"},
      {"tid", "777", "((unsigned long long (*)(void))14)()", "const volatile unsigned int ebpfrun_filter_tid[16]"},
      {"uid", "1000", "((unsigned long long (*)(void))15)()", "const volatile unsigned int ebpfrun_filter_uid[16]"},
      {"cgroup", "18446744073709551615", "((unsigned long long (*)(void))80)()",
       "const volatile unsigned long long ebpfrun_filter_cgroup[16]"},
      {"exclude_pid", "42", "((unsigned long long (*)(void))14)()",
       "const volatile unsigned int ebpfrun_filter_exclude_pid[16]"},
      {"comm", "nginx", "((long (*)(void *, unsigned int))16)(__ebpfrun_comm, sizeof(__ebpfrun_comm));",
       "const volatile unsigned long long ebpfrun_filter_comm[16][4]"},
      {"comm_prefix", "kw", "((long (*)(void *, unsigned int))16)(__ebpfrun_comm, sizeof(__ebpfrun_comm));",
       "const volatile unsigned long long ebpfrun_filter_comm_prefix[16][4]"},
  };
  for (const auto& c : cases) {
    INFO(c.field);
    const FilterSpec spec = spec_of({{c.field, c.value}});
    const std::string code = render_filter(spec);
    CHECK(contains(code, c.helper));
    const std::string count = "const volatile unsigned int ebpfrun_filter_" + c.field + "_count";
    CHECK(contains(code, " { extern " + c.array + "; extern " + count + "; unsigned int __ebpfrun_n = ebpfrun_filter_" +
                             c.field + "_count;"));
    CHECK(render_filter_definitions(spec) ==
          c.array + (c.field.starts_with("comm") ? " = {{0}}; " : " = {0}; ") + count + " = 0;");
    // Every slot of the array is compared; the value itself is nowhere.
    for (int i = 0; i < 16; ++i) CHECK(contains(code, fmt::format("ebpfrun_filter_{}[{}]", c.field, i)));
    CHECK(!contains(code, "ebpfrun_filter_" + c.field + "[16]" + " =="));
    CHECK(!contains(code, c.value));
    CHECK(count_of(code, "return 0;") == 1);
  }
  CHECK(contains(render_filter(spec_of({{"exclude_pid", "1"}})),
                 "if (0 < __ebpfrun_n && ((unsigned int)(__ebpfrun_pid_tgid >> 32) == "
                 "ebpfrun_filter_exclude_pid[0] || (1 < __ebpfrun_n && "));
  CHECK(contains(render_filter(spec_of({{"pid", "1"}})),
                 "if (!(0 < __ebpfrun_n && ((unsigned int)(__ebpfrun_pid_tgid >> 32) == "
                 "ebpfrun_filter_pid[0] || (1 < __ebpfrun_n && "));
  CHECK(contains(render_filter(spec_of({{"comm", "x"}})),
                 "(3 < __ebpfrun_n && (((__ebpfrun_comm[0] & ebpfrun_filter_comm[3][2]) == "
                 "ebpfrun_filter_comm[3][0] && "
                 "(__ebpfrun_comm[1] & ebpfrun_filter_comm[3][3]) == ebpfrun_filter_comm[3][1]) || (4 < __ebpfrun_n"));
}

TEST_CASE("the code depends only on which fields are set, never on the values", "[filter]") {
  const std::vector<std::vector<std::pair<std::string, std::string>>> same_shape = {
      {{"pid", "1"}},
      {{"pid", "2"}},
      {{"pid", "1"}, {"pid", "2"}, {"pid", "4294967295"}},
  };
  for (const auto& values : same_shape) {
    CHECK(render_filter(spec_of(values)) == render_filter(spec_of({{"pid", "7"}})));
    CHECK(render_filter_definitions(spec_of(values)) == render_filter_definitions(spec_of({{"pid", "7"}})));
  }
  CHECK(render_filter(spec_of({{"exclude_pid", "100"}, {"comm", "bash"}})) ==
        render_filter(spec_of({{"exclude_pid", "200"}, {"comm", "x"}, {"comm", "nginx"}})));
  // Different fields are different code.
  CHECK(render_filter(spec_of({{"pid", "1"}})) != render_filter(spec_of({{"tid", "1"}})));
  CHECK(render_filter(spec_of({{"comm", "a"}})) != render_filter(spec_of({{"comm_prefix", "a"}})));
}

TEST_CASE("the values go into the arrays, with their counts", "[filter]") {
  using ebpfrun::tmpl::filter_globals;
  auto globals = filter_globals(spec_of({{"exclude_pid", "9"}, {"pid", "1"}, {"pid", "2"}, {"cgroup", "5"}}));
  REQUIRE(globals.size() == 6);
  std::vector<std::string> names;
  for (const auto& g : globals) names.push_back(g.name);
  CHECK(names == std::vector<std::string>{"ebpfrun_filter_exclude_pid", "ebpfrun_filter_exclude_pid_count",
                                          "ebpfrun_filter_pid", "ebpfrun_filter_pid_count", "ebpfrun_filter_cgroup",
                                          "ebpfrun_filter_cgroup_count"});
  auto u32 = [](const std::string& bytes, size_t at) {
    uint32_t v = 0;
    std::memcpy(&v, bytes.data() + at, 4);
    return v;
  };
  std::vector<uint32_t> pids(16);
  REQUIRE(globals[2].bytes.size() == 64);
  std::memcpy(pids.data(), globals[2].bytes.data(), 64);
  std::vector<uint32_t> expected(16, 0);
  expected[0] = 1;
  expected[1] = 2;
  CHECK(pids == expected);
  CHECK(globals[3].bytes.size() == 4);
  CHECK(u32(globals[3].bytes, 0) == 2);
  CHECK(u32(globals[1].bytes, 0) == 1);
  REQUIRE(globals[4].bytes.size() == 128);
  uint64_t cgroup = 0;
  std::memcpy(&cgroup, globals[4].bytes.data(), 8);
  CHECK(cgroup == 5);

  // A comm entry: 16 bytes of text (zero after it), then the mask of the bytes
  // that must match: the terminator too for an exact comm, not for a prefix.
  auto comm = filter_globals(spec_of({{"comm", "ab"}, {"comm_prefix", "ab"}}));
  REQUIRE(comm.size() == 4);
  for (size_t i = 0; i < 2; ++i) {
    const std::string& bytes = comm[2 * i].bytes;
    REQUIRE(bytes.size() == 16 * 32);
    CHECK(bytes.substr(0, 16) == std::string("ab") + std::string(14, '\0'));
    const std::string mask = bytes.substr(16, 16);
    const size_t masked = i == 0 ? 3 : 2;
    CHECK(mask == std::string(masked, '\xff') + std::string(16 - masked, '\0'));
    CHECK(bytes.substr(32) == std::string(15 * 32, '\0'));
    CHECK(u32(comm[2 * i + 1].bytes, 0) == 1);
  }
  CHECK(filter_globals(FilterSpec{}).empty());
}

TEST_CASE("rendered code is one block on a single line", "[filter]") {
  std::string code = render_filter(spec_of({{"pid", "1"},
                                            {"tid", "2"},
                                            {"comm", "bash"},
                                            {"comm_prefix", "kworker"},
                                            {"uid", "0"},
                                            {"cgroup", "5"},
                                            {"exclude_pid", "3"}}));
  CHECK(!contains(code, "\n"));
  CHECK(code.front() == '{');
  CHECK(code.back() == '}');
  CHECK(count_of(code, "{") == count_of(code, "}"));
  // No header-dependent types or helper names may appear.
  for (const char* banned : {"__u32", "__u64", "bpf_get_", "#"}) {
    INFO(banned);
    CHECK(!contains(code, banned));
  }
}

TEST_CASE("values are OR'ed within a field and fields are AND'ed", "[filter]") {
  SECTION("different fields each get their own early return") {
    std::string code =
        render_filter(spec_of({{"pid", "1"}, {"pid", "2"}, {"comm", "bash"}, {"uid", "0"}, {"cgroup", "9"}}));
    CHECK(count_of(code, "return 0;") == 4);
    CHECK(count_of(code, ")14)()") == 1);
    CHECK(count_of(code, ")16)(") == 1);
  }
  SECTION("comm and comm_prefix share one comm copy") {
    std::string code = render_filter(spec_of({{"comm", "bash"}, {"comm_prefix", "ba"}}));
    CHECK(count_of(code, ")16)(") == 1);
    CHECK(count_of(code, "return 0;") == 2);
  }
  SECTION("the excluded pids are checked before the selection") {
    std::string code = render_filter(spec_of({{"exclude_pid", "5"}, {"exclude_pid", "6"}, {"pid", "1"}}));
    CHECK(code.find("ebpfrun_filter_exclude_pid[15]") < code.find("ebpfrun_filter_pid[0]"));
    CHECK(count_of(code, ")14)()") == 1);
  }
  SECTION("repeated values are kept once") {
    FilterSpec spec = spec_of({{"pid", "3"}, {"pid", "3"}, {"comm", "x"}, {"comm", "x"}});
    CHECK(spec.pids == std::vector<uint32_t>{3});
    CHECK(spec.comms == std::vector<std::string>{"x"});
  }
}

TEST_CASE("a field holds at most 16 values", "[filter]") {
  FilterSpec spec;
  for (int i = 0; i < 16; ++i) REQUIRE(add_filter_value(spec, "pid", std::to_string(i)).ok());
  CHECK(add_filter_value(spec, "pid", "3").ok());  // a repeat costs nothing
  auto refused = add_filter_value(spec, "pid", "16");
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error() ==
        "too many pid filter values: at most 16 can be given (they live in a fixed-size array in the object's "
        "read-only data)");
  // A merged spec can hold more; apply_filter refuses it.
  spec.pids.push_back(99);
  auto out = apply_filter(kProgram, spec, "prog.bpf.c");
  REQUIRE_FALSE(out.ok());
  CHECK(out.error() == "too many pid filter values (17): at most 16 can be given");
}

TEST_CASE("apply_filter replaces every placeholder, appends the definitions once and keeps line numbers", "[filter]") {
  FilterSpec spec = spec_of({{"pid", "1"}, {"pid", "2"}, {"comm", "bash"}});
  const std::string code = render_filter(spec);
  const std::string source = kProgram + "int second(void *ctx) {\n  /*FILTER*/ /*FILTER*/\n}\n";
  auto out = apply_filter(source, spec, "prog.bpf.c");
  REQUIRE(out.ok());
  CHECK(count_of(*out, "/*FILTER*/") == 0);
  CHECK(count_of(*out, code) == 3);

  std::string expected = source;
  for (size_t pos; (pos = expected.find("/*FILTER*/")) != std::string::npos;) expected.replace(pos, 10, code);
  // The source's lines, each at its number, then the definitions after a blank line.
  CHECK(*out == expected + "\n\n" + ebpfrun::tmpl::render_filter_definitions(spec) + "\n");
  CHECK(count_of(*out, "const volatile unsigned int ebpfrun_filter_pid[16] = {0};") == 1);
  CHECK(count_of(*out, "const volatile unsigned int ebpfrun_filter_pid_count = 0;") == 1);
}

TEST_CASE("a filter without a placeholder is an error naming the file and fields", "[filter]") {
  // Only the exact text /*FILTER*/ is a placeholder; near misses stay as they are.
  const std::string near_misses = "/* FILTER */ /*filter*/ /*FILTER */ /*FILTER*\n";
  auto kept = apply_filter(near_misses, FilterSpec{}, "<inline>");
  REQUIRE(kept.ok());
  CHECK(*kept == near_misses);

  auto out = apply_filter(near_misses, spec_of({{"pid", "1"}, {"comm", "bash"}}), "probes/open.bpf.c");
  REQUIRE_FALSE(out.ok());
  CHECK(out.error() ==
        "probes/open.bpf.c has no /*FILTER*/ placeholder, so the filter (pid, comm) cannot be "
        "applied");
}

TEST_CASE("user text in comm values never becomes code", "[filter]") {
  const std::vector<std::string> hostile = {"x\"); evil();//", "a\\b", "*/", "a\nb", "\"", "/*FILTER*/", "\x80\xff"};
  for (const std::string& value : hostile) {
    for (const std::string field : {"comm", "comm_prefix"}) {
      INFO(field << "=" << value);
      FilterSpec spec;
      auto status = add_filter_value(spec, field, value);
      if (!status.ok()) continue;  // Refusing is also safe.
      // The code is exactly that of a harmless value; the text is only data.
      const std::string code = render_filter(spec);
      CHECK(code == render_filter(spec_of({{field, "q"}})));
      auto globals = ebpfrun::tmpl::filter_globals(spec);
      REQUIRE(globals.size() == 2);
      CHECK(globals[0].bytes.substr(0, value.size()) == value);
    }
  }
  CHECK(contains(error_for("comm", std::string("a\0b", 3)), "NUL byte"));
}

TEST_CASE("comm values are limited to what the kernel keeps", "[filter]") {
  CHECK(error_for("comm", "abcdefghijklmno").empty());  // 15 bytes
  CHECK(error_for("comm_prefix", "abcdefghijklmno").empty());
  CHECK(error_for("comm", "abcdefghijklmnop") ==
        "invalid comm filter 'abcdefghijklmnop': it is 16 bytes long, but the kernel truncates "
        "a task's comm to 15 bytes (TASK_COMM_LEN 16), so it could never match");
  CHECK(contains(error_for("comm_prefix", "abcdefghijklmnop"), "16 bytes long"));
  CHECK(error_for("comm", "") == "invalid comm filter '': the value is empty");
  CHECK(error_for("comm_prefix", "") == "invalid comm_prefix filter '': the value is empty");

  // A 15-byte comm is matched with its terminator: all 16 bytes are masked.
  auto globals = ebpfrun::tmpl::filter_globals(spec_of({{"comm", "abcdefghijklmno"}}));
  CHECK(globals[0].bytes.substr(16, 16) == std::string(16, '\xff'));
}

TEST_CASE("numeric fields accept plain decimal only", "[filter]") {
  for (const std::string field : {"pid", "tid", "uid", "exclude_pid"}) {
    INFO(field);
    CHECK(error_for(field, "0").empty());
    CHECK(error_for(field, "4294967295").empty());
    CHECK(error_for(field, "-1") == fmt::format("invalid {} filter '-1': negative numbers are not allowed", field));
    CHECK(error_for(field, "12a") == fmt::format("invalid {} filter '12a': expected a decimal number", field));
    CHECK(error_for(field, "") ==
          fmt::format("invalid {} filter '': expected a decimal number, got an empty value", field));
    CHECK(error_for(field, "99999999999") ==
          fmt::format("invalid {} filter '99999999999': the largest allowed value is 4294967295", field));
    CHECK(contains(error_for(field, "4294967296"), "largest allowed value"));
    for (const char* bad : {" 1", "1 ", "+1", "0x10", "1.5", "1\n"})
      CHECK(contains(error_for(field, bad), "expected a decimal number"));
  }
  CHECK(spec_of({{"pid", "007"}}).pids == std::vector<uint32_t>{7});
  CHECK(error_for("cgroup", "18446744073709551616") ==
        "invalid cgroup filter '18446744073709551616': the largest allowed value is "
        "18446744073709551615");
  CHECK(error_for("cgroup", "-1") == "invalid cgroup filter '-1': negative numbers are not allowed");
  CHECK(error_for("cgroup", "12a") == "invalid cgroup filter '12a': expected a decimal number");
  CHECK(error_for("cgroup", "abc") ==
        "invalid cgroup filter 'abc': expected a decimal cgroup id or a cgroup v2 directory path "
        "starting with '/'");
}

TEST_CASE("an unknown field lists the known ones", "[filter]") {
  CHECK(known_filter_fields() ==
        std::vector<std::string>{"pid", "tid", "comm", "comm_prefix", "uid", "cgroup", "exclude_pid"});
  CHECK(error_for("pdi", "1") ==
        "unknown filter field 'pdi'; known fields are: pid, tid, comm, comm_prefix, uid, cgroup, exclude_pid");
  CHECK(error_for("PID", "1").find("unknown filter field 'PID'") == 0);
}

namespace {
bool on_cgroup2(const std::string& path) {
  struct statfs fs {};
  return ::statfs(path.c_str(), &fs) == 0 && fs.f_type == 0x63677270;
}
// The first mount point of `fstype` in /proc/self/mounts, or "".
std::string first_mount(const std::string& fstype) {
  std::ifstream mounts("/proc/self/mounts");
  std::string device, dir, type, rest;
  while (mounts >> device >> dir >> type && std::getline(mounts, rest))
    if (type == fstype) return dir;
  return "";
}
}  // namespace

TEST_CASE("cgroup paths resolve to the directory's inode number", "[filter]") {
  // cgroup v2 is at /sys/fs/cgroup on most hosts, at /sys/fs/cgroup/unified on
  // hybrid ones like this test machine.
  const std::string v2 = first_mount("cgroup2");
  if (v2.empty()) {
    WARN("no cgroup2 mounted: nothing to resolve");
    return;
  }
  struct stat st {};
  REQUIRE(::stat(v2.c_str(), &st) == 0);
  CHECK(spec_of({{"cgroup", v2}}).cgroup_ids == std::vector<uint64_t>{static_cast<uint64_t>(st.st_ino)});

  // A path relative to /sys/fs/cgroup is found there when it does not exist as given.
  namespace fs = std::filesystem;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/sys/fs/cgroup", ec)) {
    const std::string short_path = "/" + entry.path().filename().string();
    if (!entry.is_directory() || fs::exists(short_path) || !on_cgroup2(entry.path())) continue;
    struct stat sub {};
    REQUIRE(::stat(entry.path().c_str(), &sub) == 0);
    INFO(short_path);
    CHECK(spec_of({{"cgroup", short_path}}).cgroup_ids == std::vector<uint64_t>{static_cast<uint64_t>(sub.st_ino)});
    break;
  }

  CHECK(error_for("cgroup", "/no/such/cgroup") ==
        "invalid cgroup filter '/no/such/cgroup': cannot use it as a cgroup directory: No such "
        "file or directory (tried /no/such/cgroup and /sys/fs/cgroup/no/such/cgroup)");
  CHECK(contains(error_for("cgroup", "/etc/passwd"), "Not a directory"));
  CHECK(error_for("cgroup", std::string("/sys/fs/cgroup\0x", 16)) ==
        "invalid cgroup filter '/sys/fs/cgroup\\x00x': the path contains a NUL byte");
}

// A cgroup v1 directory's inode is not a cgroup v2 id (the v1 root's inode 1
// is the v2 root's id, so it would match every process): refused, as is any
// directory that is not on cgroup2.
TEST_CASE("cgroup paths not on cgroup v2 are refused", "[filter]") {
  const std::string v1 = first_mount("cgroup");
  if (!v1.empty()) {
    INFO(v1);
    const std::string err = error_for("cgroup", v1);
    CHECK(contains(err, "is a cgroup v1 directory, not on cgroup v2"));
  }
  // Any other file system: /tmp here (tmpfs or the root file system).
  char dir[] = "/tmp/ebpfrun-test-notcgroup-XXXXXX";
  REQUIRE(::mkdtemp(dir));
  const std::string err = error_for("cgroup", dir);
  ::rmdir(dir);
  CHECK(contains(err, "is a directory, not on cgroup v2; cgroup filters compare cgroup v2 ids"));
  if (!first_mount("cgroup2").empty()) CHECK(contains(err, "cgroup v2 is mounted at"));
  if (v1.empty()) WARN("no cgroup v1 hierarchy mounted here: only the non-cgroup case was checked");
}

// A terminal escape in a path is shown escaped, also in the list of paths tried
// (found by tests/fuzz/fuzz_filter).
TEST_CASE("a terminal escape in a cgroup path is shown escaped", "[filter]") {
  CHECK(error_for("cgroup", "/x\x1b[31m") ==
        "invalid cgroup filter '/x\\x1b[31m': cannot use it as a cgroup directory: No such "
        "file or directory (tried /x\\x1b[31m and /sys/fs/cgroup/x\\x1b[31m)");
}

TEST_CASE("the full form is the same for every spec and defines every field", "[filter]") {
  using ebpfrun::tmpl::FilterForm;
  const std::string full = render_filter(FilterSpec{}, FilterForm::full);
  CHECK(full == render_filter(spec_of({{"pid", "1"}, {"comm", "bash"}}), FilterForm::full));
  CHECK(full == render_filter(spec_of({{"exclude_pid", "7"}, {"cgroup", "3"}, {"uid", "0"}}), FilterForm::full));
  // Each check (and helper call) sits under its field's bit of the mask.
  CHECK(contains(full, "unsigned int __ebpfrun_fields = ebpfrun_filter_fields; if (__ebpfrun_fields) {"));
  CHECK(contains(full, "if (__ebpfrun_fields & 16) __ebpfrun_uid_gid = ((unsigned long long (*)(void))15)();"));
  CHECK(contains(full, "if (__ebpfrun_fields & 1) { unsigned int __ebpfrun_n = ebpfrun_filter_pid_count; if (!"));
  const std::string definitions = render_filter_definitions(FilterSpec{}, FilterForm::full);
  for (const std::string& field : ebpfrun::tmpl::known_filter_fields())
    CHECK(contains(definitions, "ebpfrun_filter_" + field + "_count = 0;"));
  CHECK(contains(definitions, "const volatile unsigned int ebpfrun_filter_fields = 0;"));
  // The mask holds the set fields' bits, in known_filter_fields order.
  auto globals = ebpfrun::tmpl::filter_globals(spec_of({{"pid", "1"}, {"exclude_pid", "2"}}), FilterForm::full);
  REQUIRE(!globals.empty());
  CHECK(globals[0].name == "ebpfrun_filter_fields");
  uint32_t mask = 0;
  REQUIRE(globals[0].bytes.size() == sizeof mask);
  std::memcpy(&mask, globals[0].bytes.data(), sizeof mask);
  CHECK(mask == (1u | 64u));
  CHECK(ebpfrun::tmpl::filter_globals(FilterSpec{}, FilterForm::full).empty());
  // Definitions go in whenever there is a placeholder, and only then.
  auto with = apply_filter(kProgram, FilterSpec{}, "prog.bpf.c", FilterForm::full);
  REQUIRE(with.ok());
  CHECK(count_of(*with, full) == 1);
  CHECK(count_of(*with, definitions) == 1);
  auto without = apply_filter("int x;\n", FilterSpec{}, "prog.bpf.c", FilterForm::full);
  REQUIRE(without.ok());
  CHECK(*without == "int x;\n");
}

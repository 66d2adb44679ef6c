// Filter values travel as data: the build compiles value-free C (so another
// pid, or another run's own excluded pid, is an object cache hit) and writes
// the values into the object's .rodata, where the loaded program sees them.
#include <bpf/libbpf.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <sys/syscall.h>

#include "build/build.h"
#include "loader/globals.h"
#include "loader/object.h"
#include "support/test_support.h"

using namespace ebpfrun;

namespace {

constexpr const char* kCounting = R"(#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
__u64 fv_hits = 0;
SEC("tracepoint/syscalls/sys_enter_getppid")
int fv_count(void *ctx)
{
    /*FILTER*/
    __sync_fetch_and_add(&fv_hits, 1);
    return 0;
}
char LICENSE[] SEC("license") = "GPL";
)";

build::BuildRequest counting(const test::TempDir& dir, const std::vector<std::pair<std::string, std::string>>& values) {
  build::BuildRequest request;
  request.options.cache_dir = dir.file("cache");
  request.text = kCounting;
  request.name = dir.file("fv.bpf.c");
  for (const auto& [field, value] : values) REQUIRE(tmpl::add_filter_value(request.filter, field, value));
  return request;
}

// Loads the object, attaches its program, makes `calls` getppid() calls and
// returns how many the program counted.
double hits_of(const std::string& elf, int calls) {
  auto object = build::load(elf, "fv");
  INFO((object ? std::string() : object.error()));
  REQUIRE(object);
  bpf_link* link = bpf_program__attach(object->find_program("fv_count"));
  REQUIRE(link != nullptr);
  for (int i = 0; i < calls; ++i) ::syscall(SYS_getppid);
  bpf_link__destroy(link);
  auto hits = loader::get_global(*object, "fv_hits");
  REQUIRE(hits);
  return std::get<double>(*hits);
}

}  // namespace

TEST_CASE("another filter value is an object cache hit", "[compiler][build][filter]") {
  test::TempDir dir;
  auto first = build::compile(counting(dir, {{"pid", "1"}, {"exclude_pid", "100"}}));
  INFO(first.error_message());
  REQUIRE(first.ok());
  CHECK_FALSE(first.stats.cache_hit);
  for (const auto& values : std::vector<std::vector<std::pair<std::string, std::string>>>{
           {{"pid", "2"}, {"exclude_pid", "100"}},
           {{"pid", "1"}, {"exclude_pid", "200"}},
           {{"pid", "3"}, {"pid", "4"}, {"exclude_pid", "5"}}}) {
    auto again = build::compile(counting(dir, values));
    REQUIRE(again.ok());
    CHECK(again.stats.cache_hit);
    CHECK(again.stats.cache_key == first.stats.cache_key);
    // Same code, other values: the objects differ only in their .rodata.
    CHECK(again.object.size() == first.object.size());
    CHECK(again.object != first.object);
  }
  // Another shape (a field added) is other code.
  auto other = build::compile(counting(dir, {{"pid", "1"}, {"comm", "x"}, {"exclude_pid", "100"}}));
  REQUIRE(other.ok());
  CHECK_FALSE(other.stats.cache_hit);
}

TEST_CASE("the values written into .rodata filter in the kernel", "[compiler][build][filter][kernel]") {
  if (!test::have_root()) return;
  test::TempDir dir;
  const std::string self = std::to_string(::getpid());
  struct Case {
    std::vector<std::pair<std::string, std::string>> values;
    double expected;
  };
  const std::vector<Case> cases = {
      {{{"pid", self}}, 3},
      {{{"pid", "1"}}, 0},
      {{{"pid", "1"}, {"pid", self}}, 3},
      {{{"pid", self}, {"exclude_pid", "1"}}, 3},
      {{{"pid", self}, {"exclude_pid", self}}, 0},
      {{{"comm", "compiler_tests"}}, 3},
      {{{"comm", "compiler_test"}}, 0},
      {{{"comm_prefix", "compiler_test"}}, 3},
      {{{"comm_prefix", "x"}, {"comm_prefix", "compiler"}}, 3},
      {{{"uid", std::to_string(::getuid())}}, 3},
      {{{"tid", std::to_string(::gettid())}}, 3},
      {{{"tid", "1"}}, 0},
  };
  for (const auto& c : cases) {
    std::string text;
    for (const auto& [field, value] : c.values) text += field + "=" + value + " ";
    INFO(text);
    auto out = build::compile(counting(dir, c.values));
    INFO(out.error_message());
    REQUIRE(out.ok());
    CHECK(hits_of(out.object, 3) == c.expected);
  }
}

TEST_CASE("a filtered object written to a file carries its values", "[compiler][build][filter]") {
  test::TempDir dir;
  auto out = build::compile(counting(dir, {{"pid", "4242"}}));
  REQUIRE(out.ok());
  auto object = loader::Object::open(out.object, "fv");
  REQUIRE(object);
  // The filter's arrays are not offered to scripts, but they are in .rodata:
  // the value, then 15 unused slots.
  CHECK(loader::global_names(*object) == std::vector<std::string>{"fv_hits (.bss)"});
  CHECK(out.object.find(std::string("\x92\x10\0\0", 4) + std::string(60, '\0')) != std::string::npos);
  std::string elf = out.object;
  CHECK(build::set_elf_global(elf, "no_such_global", "x").error() ==
        "cannot set a global in the BPF object: it has no global variable no_such_global");
  CHECK(build::set_elf_global(elf, "ebpfrun_filter_pid", "x").error() ==
        "cannot set a global in the BPF object: ebpfrun_filter_pid is 64 bytes, not 1");
}

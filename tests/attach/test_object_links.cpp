// Links owned by an Object: attach_all from SEC names, early detach, and
// closing the object detaches everything.
#include <sys/syscall.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <cstring>

#include "attach/object_links.h"
#include "build/build.h"
#include "maps/map.h"
#include "support/test_support.h"
#include "template/filter.h"

using namespace ebpfrun;

namespace {

constexpr const char* kCounting = R"(#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 2); __type(key, __u32); __type(value, __u64); } olk_counts SEC(".maps");
static __always_inline void bump(__u32 key) {
    __u64 *v = bpf_map_lookup_elem(&olk_counts, &key);
    if (v) __sync_fetch_and_add(v, 1);
}
SEC("tracepoint/syscalls/sys_enter_getppid")
int olk_enter(void *ctx) { /*FILTER*/ bump(0); return 0; }
SEC("tp/syscalls/sys_exit_getppid")
int olk_exit(void *ctx) { /*FILTER*/ bump(1); return 0; }
SEC("uprobe")
int olk_needs_spec(void *ctx) { return 0; }
char LICENSE[] SEC("license") = "GPL";
)";

uint64_t count(const maps::Map& map, uint32_t key) {
  auto v = map.lookup(std::string(reinterpret_cast<const char*>(&key), 4));
  REQUIRE(v);
  uint64_t n = 0;
  std::memcpy(&n, (*v)->data(), 8);
  return n;
}

// kCounting compiled with a filter on this process, its filter values
// written into the object as runtime/build does (they are data, not code).
std::string counting_elf(test::TempDir& dir) {
  tmpl::FilterSpec spec;
  REQUIRE(tmpl::add_filter_value(spec, "pid", std::to_string(::getpid())));
  auto source = tmpl::apply_filter(kCounting, spec, "olk.bpf.c");
  REQUIRE(source);
  std::string elf = test::compile_bpf(*source, dir, "olk.bpf.c");
  for (const auto& global : tmpl::filter_globals(spec)) REQUIRE(build::set_elf_global(elf, global.name, global.bytes));
  return elf;
}

}  // namespace

TEST_CASE("attach_all attaches by SEC name, links detach early or with their object", "[attach][kernel]") {
  if (!test::have_root()) return;
  test::TempDir dir;
  const std::string elf = counting_elf(dir);
  auto object = loader::Object::open(elf, "olk");
  REQUIRE(object);
  REQUIRE(object->load());

  auto links = attach::attach_all(*object);
  INFO((links ? std::string() : links.error()));
  REQUIRE(links);
  REQUIRE(links->size() == 2);  // the bare SEC("uprobe") program needs an explicit spec
  CHECK(object->attachment_count() == 2);
  auto counts = maps::Map::from_object_map(object->find_map("olk_counts"), nullptr);
  REQUIRE(counts);

  for (int i = 0; i < 25; ++i) ::syscall(SYS_getppid);
  CHECK(count(*counts, 0) == 25);
  CHECK(count(*counts, 1) == 25);

  (*links)[1]->detach();
  for (int i = 0; i < 5; ++i) ::syscall(SYS_getppid);
  CHECK(count(*counts, 0) == 30);
  CHECK(count(*counts, 1) == 25);

  auto missing = attach::attach_in(*object, "no_such_program");
  REQUIRE_FALSE(missing);
  CHECK(missing.error().find("its programs are: olk_enter, olk_exit, olk_needs_spec") != std::string::npos);
  auto no_spec = attach::attach_in(*object, "olk_needs_spec");
  REQUIRE_FALSE(no_spec);
  CHECK(no_spec.error().find("needs an attach spec") != std::string::npos);

  object->close();
  CHECK_FALSE(test::kernel_has_program("olk_enter"));
  CHECK_FALSE(test::kernel_has_program("olk_exit"));
}

// One program serving two tracepoints of the same layout (accept4/accept,
// execve/execveat in the shipped tools) is loaded once and attached at both.
TEST_CASE("attach_all attaches a program at its also_attach points too, once loaded", "[attach][kernel]") {
  if (!test::have_root()) return;
  test::TempDir dir;
  const std::string elf = counting_elf(dir);
  auto loaded = [&] {
    auto opened = loader::Object::open(elf, "olk");
    REQUIRE(opened);
    REQUIRE(opened->load());
    return std::move(opened).value();
  };
  auto object = loaded();

  // Misnamed programs, and a program given both alternatives and further
  // points, are refused before anything is attached.
  auto unknown = attach::attach_all(object, {.also_attach = {{"olk_nope", {"tracepoint/syscalls/sys_enter_getpid"}}}});
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().find("also_attach name program 'olk_nope'") != std::string::npos);
  auto both = attach::attach_all(object, {.alternatives = {{"olk_enter", {"tracepoint/syscalls/sys_enter_getppid"}}},
                                          .also_attach = {{"olk_enter", {"tracepoint/syscalls/sys_enter_getpid"}}}});
  REQUIRE_FALSE(both);
  CHECK(both.error().find("both alternatives and also_attach") != std::string::npos);
  CHECK(object.attachment_count() == 0);

  // The enter program counts getpid() as well as getppid().
  auto links = attach::attach_all(object, {.also_attach = {{"olk_enter", {"tracepoint/syscalls/sys_enter_getpid"}}}});
  INFO((links ? std::string() : links.error()));
  REQUIRE(links);
  CHECK(links->size() == 3);
  auto counts = maps::Map::from_object_map(object.find_map("olk_counts"), nullptr);
  REQUIRE(counts);
  for (int i = 0; i < 7; ++i) ::syscall(SYS_getppid);
  for (int i = 0; i < 4; ++i) ::syscall(SYS_getpid);
  CHECK(count(*counts, 0) == 11);
  CHECK(count(*counts, 1) == 7);
  object.close();

  // A further point that does not exist fails the attach, unless the program
  // is optional.
  auto again = loaded();
  auto bad = attach::attach_all(again, {.also_attach = {{"olk_enter", {"tracepoint/syscalls/sys_enter_nope"}}}});
  REQUIRE_FALSE(bad);
  CHECK(bad.error().find("sys_enter_nope does not exist") != std::string::npos);
  again.close();
  auto third = loaded();
  auto tolerated = attach::attach_all(
      third, {.optional = {"olk_enter"}, .also_attach = {{"olk_enter", {"tracepoint/syscalls/sys_enter_nope"}}}});
  INFO((tolerated ? std::string() : tolerated.error()));
  REQUIRE(tolerated);
  CHECK(tolerated->size() == 2);  // olk_enter at its own point, and olk_exit
  REQUIRE(third.notes().size() == 1);
  CHECK(third.notes()[0].find("sys_enter_nope") != std::string::npos);
}

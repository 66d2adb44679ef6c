// The loader on the real kernel: verifier errors, bad input, and that nothing
// of ours stays in the kernel afterwards (map operations are in tests/maps/).
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <catch2/catch.hpp>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "loader/line_info.h"
#include "loader/object.h"
#include "loader/verifier_log.h"
#include "support/test_support.h"

using namespace ebpfrun;

namespace {

constexpr const char* kRejected = R"(#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 4); __type(key, __u32); __type(value, __u64); } vals SEC(".maps");
SEC("tracepoint/syscalls/sys_enter_getppid")
int ldr_rejected(void *ctx)
{
    __u32 key = 0;
    __u64 *v = bpf_map_lookup_elem(&vals, &key);
    return *v > 3;
}
char LICENSE[] SEC("license") = "GPL";
)";

constexpr const char* kMaps = R"(#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 64); __type(key, __u32); __type(value, __u64); } ldr_hash SEC(".maps");
SEC("tracepoint/syscalls/sys_enter_getppid")
int ldr_maps(void *ctx) { return 0; }
char LICENSE[] SEC("license") = "GPL";
)";

}  // namespace

TEST_CASE("verifier log summary keeps the last meaningful lines and the source line", "[loader]") {
  const std::string log =
      "0: R1=ctx() R10=fp0\n"
      "; __u64 *v = bpf_map_lookup_elem(&vals, &key); @ probe.bpf.c:8\n"
      "5: (85) call bpf_map_lookup_elem#1\n"
      "; return *v > 3; @ probe.bpf.c:9\n"
      "6: (79) r1 = *(u64 *)(r0 +0)\n"
      "R0 invalid mem access 'map_value_or_null'\n"
      "processed 7 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0\n";
  auto summary = loader::summarize_verifier_log(log, 3);
  CHECK(summary.source_line == "return *v > 3; @ probe.bpf.c:9");
  CHECK(summary.tail ==
        "  ; return *v > 3; @ probe.bpf.c:9\n  6: (79) r1 = *(u64 *)(r0 +0)\n"
        "  R0 invalid mem access 'map_value_or_null'\n");
}

// What the loader adds where the kernel's log has the source text without
// its file:line (6.1): the location from the object's own line info.
TEST_CASE("a source line is located by its text in the object's BTF line info", "[loader]") {
  test::TempDir dir;
  const std::string elf = test::compile_bpf(kRejected, dir, "located.bpf.c");
  auto object = loader::Object::open(elf, "located");
  REQUIRE(object);
  const struct btf* btf = bpf_object__btf(object->raw());
  REQUIRE(btf);
  CHECK(loader::source_location(elf, btf, "return *v > 3;") == "located.bpf.c:9");
  CHECK(loader::source_location(elf, btf, "  __u64 *v = bpf_map_lookup_elem(&vals, &key);") == "located.bpf.c:8");
  CHECK(loader::source_location(elf, btf, "return 42;").empty());
  CHECK(loader::source_location(elf, nullptr, "return *v > 3;").empty());
  CHECK(loader::source_location("not an ELF object", btf, "return *v > 3;").empty());
}

TEST_CASE("a verifier rejection names the program, the C line and the verifier's reason", "[loader][kernel]") {
  if (!test::have_root()) return;
  test::TempDir dir;
  auto object = loader::Object::open(test::compile_bpf(kRejected, dir, "rejected.bpf.c"), "rejected");
  REQUIRE(object);
  loader::LoadOptions options;
  options.initial_log_size = 64;  // forces the truncated-log retry
  auto loaded = object->load(options);
  REQUIRE_FALSE(loaded);
  const std::string& message = loaded.error();
  INFO(message);
  CHECK(message.find("the verifier rejected program 'ldr_rejected'") != std::string::npos);
  CHECK(message.find("at: return *v > 3; @ rejected.bpf.c:9") != std::string::npos);
  CHECK(message.find("invalid mem access 'map_value_or_null'") != std::string::npos);
  CHECK(message.find("run with -v") != std::string::npos);
  // The full log survived the tiny first buffer: it starts at instruction 0.
  CHECK(object->verifier_log().size() > 64);
  CHECK(object->verifier_log().find("0: R1=ctx") != std::string::npos);
  // The error itself says why (kind, errno) and carries that whole log.
  CHECK(loaded.error_kind() == ErrorKind::verifier);
  CHECK(loaded.error_info().err_no == EACCES);
  CHECK(loaded.error_info().log == object->verifier_log());
  object->close();
  CHECK_FALSE(test::kernel_has_program("ldr_rejected"));
}

TEST_CASE("an exception unwinding past a loaded object leaves nothing in the kernel", "[loader][kernel]") {
  if (!test::have_root()) return;
  test::TempDir dir;
  const std::string elf = test::compile_bpf(kMaps, dir, "maps.bpf.c");
  try {
    auto object = loader::Object::open(elf, "throwing");
    REQUIRE(object);
    REQUIRE(object->load());
    REQUIRE(test::kernel_has_program("ldr_maps"));
    throw std::runtime_error("a C++ failure while a probe is loaded");
  } catch (const std::runtime_error&) {
  }
  CHECK_FALSE(test::kernel_has_program("ldr_maps"));
  CHECK_FALSE(test::kernel_has_map("ldr_hash"));
}

TEST_CASE("bad pin namespaces and non-BPF input are clear errors", "[loader]") {
  loader::OpenOptions options;
  options.pin_namespace = "../escape";
  auto bad = loader::Object::open(
      "\x7f"
      "ELF",
      "x", options);
  REQUIRE_FALSE(bad);
  CHECK(bad.error().find("invalid pin namespace") != std::string::npos);
  CHECK(bad.error_kind() == ErrorKind::invalid_argument);
  auto garbage = loader::Object::open("not an elf at all", "garbage");
  REQUIRE_FALSE(garbage);
  CHECK(garbage.error().find("cannot open BPF object garbage") != std::string::npos);
  CHECK(garbage.error_kind() == ErrorKind::invalid_argument);
}

// Global variables of an object (runtime/loader/globals.h): set before load,
// kept across the loader's retries, typed against BTF.
#include <catch2/catch.hpp>

#include <variant>

#include "loader/globals.h"
#include "loader/object.h"
#include "support/test_support.h"

using namespace ebpfrun;

namespace {

// Rejected only when lg_bad is set: the verifier removes the bad branch when
// it sees lg_bad == 0 in the frozen .rodata.
constexpr const char* kConditional = R"(#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
const volatile int lg_bad = 0;
const volatile unsigned char lg_byte = 0;
__u32 lg_seen = 0;
SEC("tracepoint/syscalls/sys_enter_getppid")
int lg_prog(void *ctx)
{
    if (lg_bad) {
        int *p = (int *)(long)bpf_get_current_pid_tgid();
        return *p;
    }
    return 0;
}
char LICENSE[] SEC("license") = "GPL";
)";

}  // namespace

TEST_CASE("a const global set before load holds through the loader's log retries", "[loader][globals][kernel]") {
  if (!test::have_root()) return;
  test::TempDir dir;
  const std::string elf = test::compile_bpf(kConditional, dir, "lg.bpf.c");
  // A tiny first log makes the loader reopen the object and load again: the
  // value must be set again in the reopened object, or the retry would load
  // the program with lg_bad == 0 and succeed.
  loader::LoadOptions tiny;
  tiny.initial_log_size = 64;
  {
    auto object = loader::Object::open(elf, "lg");
    REQUIRE(object);
    REQUIRE(loader::set_global(*object, "lg_bad", loader::GlobalValue(1.0)));
    CHECK(std::get<double>(*loader::get_global(*object, "lg_bad")) == 1.0);
    auto loaded = object->load(tiny);
    REQUIRE_FALSE(loaded);
    CHECK(loaded.error_info().kind == ErrorKind::verifier);
  }
  auto object = loader::Object::open(elf, "lg");
  REQUIRE(object);
  REQUIRE(loader::set_global(*object, "lg_bad", loader::GlobalValue(0.0)));
  REQUIRE(object->load(tiny));
  CHECK(std::get<double>(*loader::get_global(*object, "lg_bad")) == 0.0);
  CHECK(std::get<double>(*loader::get_global(*object, "lg_seen")) == 0.0);
  REQUIRE(loader::set_global(*object, "lg_seen", loader::GlobalValue(41.0)));
  CHECK(std::get<double>(*loader::get_global(*object, "lg_seen")) == 41.0);
  auto frozen = loader::set_global(*object, "lg_bad", loader::GlobalValue(1.0));
  REQUIRE_FALSE(frozen);
  CHECK(frozen.error() ==
        "global 'lg_bad' is const (.rodata): it can only be set before load, with globals= in ebpf.compile or "
        "ebpf.load");
}

TEST_CASE("global values are checked against their BTF types", "[loader][globals]") {
  test::TempDir dir;
  auto object = loader::Object::open(test::compile_bpf(kConditional, dir, "lg.bpf.c"), "lg");
  REQUIRE(object);
  CHECK(loader::global_names(*object) ==
        std::vector<std::string>{"lg_bad (.rodata)", "lg_byte (.rodata)", "lg_seen (.bss)"});
  auto error = [&](std::string_view name, loader::GlobalValue value) {
    auto set = loader::set_global(*object, name, value);
    return set ? std::string() : set.error();
  };
  CHECK(error("lg_byte", 255.0).empty());
  CHECK(error("lg_byte", 256.0) == "global 'lg_byte': 256 does not fit its unsigned 8-bit type");
  CHECK(error("lg_byte", -1.0) == "global 'lg_byte': -1 does not fit its unsigned 8-bit type");
  CHECK(error("lg_bad", -2147483648.0).empty());
  CHECK(error("lg_bad", 2147483648.0) == "global 'lg_bad': 2147483648 does not fit its signed 32-bit type");
  CHECK(error("lg_bad", std::string("1")) == "global 'lg_bad': it is an integer, not a string");
  CHECK(error("lg_nope", 1.0) ==
        "BPF object lg has no global variable 'lg_nope'; its globals are: lg_bad (.rodata), lg_byte (.rodata), "
        "lg_seen (.bss)");
}

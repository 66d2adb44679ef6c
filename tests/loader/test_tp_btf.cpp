// tp_btf programs bound to their tracepoint by the loader (runtime/loader/
// internal/tp_btf_targets.h): opened as raw tracepoint programs so that libbpf
// reads no kernel BTF, loaded as the tracing programs they are, bound to the
// same kernel type libbpf would have chosen; a tracepoint the kernel lacks is
// named in the error.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <filesystem>
#include <string>

#include "loader/object.h"
#include "support/test_support.h"

using namespace ebpfrun;

namespace {

std::string tp_btf_source(const std::string& section) {
  return "#include \"vmlinux.h\"\n#include <bpf/bpf_helpers.h>\n#include <bpf/bpf_tracing.h>\n"
         "struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, __u32); "
         "__type(value, __u64); } ltb_switches SEC(\".maps\");\n"
         "SEC(\"" +
         section +
         "\") int BPF_PROG(ltb_switch, bool preempt, struct task_struct *prev, struct task_struct *next) {\n"
         "  __u32 zero = 0;\n  __u64 *n = bpf_map_lookup_elem(&ltb_switches, &zero);\n"
         "  if (n) __sync_fetch_and_add(n, 1);\n  return 0;\n}\n"
         "char LICENSE[] SEC(\"license\") = \"GPL\";\n";
}

}  // namespace

TEST_CASE("a tp_btf program is a tracing program bound to the type libbpf would choose", "[loader][kernel]") {
  if (!test::have_root()) return;
  test::TempDir dir;
  loader::OpenOptions options;
  options.core_btf_cache_dir = dir.file("cache");
  auto object = loader::Object::open(test::compile_bpf(tp_btf_source("tp_btf/sched_switch"), dir), "ltb", options);
  REQUIRE(object);
  REQUIRE(object->programs().size() == 1);
  CHECK(object->programs()[0].type == "tracing");
  auto loaded = object->load();
  INFO((loaded ? std::string() : loaded.error()));
  REQUIRE(loaded);
  CHECK(object->programs()[0].type == "tracing");
  bpf_program* prog = object->find_program("ltb_switch");
  REQUIRE(prog);
  CHECK(bpf_program__type(prog) == BPF_PROG_TYPE_TRACING);
  CHECK(bpf_program__expected_attach_type(prog) == BPF_TRACE_RAW_TP);
  struct bpf_prog_info info {};
  uint32_t length = sizeof info;
  REQUIRE(bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &length) == 0);
  CHECK(info.type == BPF_PROG_TYPE_TRACING);
  const int expected = libbpf_find_vmlinux_btf_id("sched_switch", BPF_TRACE_RAW_TP);
  REQUIRE(expected > 0);
  CHECK(info.attach_btf_id == static_cast<uint32_t>(expected));
  // The kernel's tracepoints were learnt once and kept for the next process.
  bool cached = false;
  for (const auto& entry : std::filesystem::directory_iterator(dir.file("cache")))
    cached = cached || entry.path().extension() == ".tp_btf";
  CHECK(cached);
  bpf_link* link = bpf_program__attach(prog);  // libbpf's auto-attach, as for its own tp_btf programs
  REQUIRE(link);
  for (int i = 0; i < 20; ++i) ::usleep(1000);  // each sleep switches this thread out
  bpf_link__destroy(link);
  bpf_map* counts = object->find_map("ltb_switches");
  REQUIRE(counts);
  uint32_t zero = 0;
  uint64_t switches = 0;
  REQUIRE(bpf_map_lookup_elem(bpf_map__fd(counts), &zero, &switches) == 0);
  CHECK(switches >= 20);
}

TEST_CASE("a tp_btf program for a tracepoint the kernel lacks is named in the load's error", "[loader][kernel]") {
  if (!test::have_root()) return;
  test::TempDir dir;
  for (const auto& [section, phrase] :
       {std::pair{std::string("tp_btf/ltb_no_such_tracepoint"),
                  std::string("the kernel has no tracepoint \"ltb_no_such_tracepoint\"")},
        std::pair{std::string("tp_btf"), std::string("names no tracepoint")}}) {
    auto object = loader::Object::open(test::compile_bpf(tp_btf_source(section), dir), "ltb_missing");
    REQUIRE(object);
    auto loaded = object->load();
    REQUIRE_FALSE(loaded);
    INFO(loaded.error());
    CHECK(loaded.error().find(phrase) != std::string::npos);
    CHECK(loaded.error().find("SEC(\"" + section + "\")") != std::string::npos);
    object->close();
    CHECK_FALSE(test::kernel_has_program("ltb_switch"));
  }
}

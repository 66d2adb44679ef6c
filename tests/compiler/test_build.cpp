// The build pipeline and the compiler's fidelity to `clang -target bpf`:
// inline asm, type anchors from the program's own headers (clang's AST),
// include order for a vmlinux.h of the program's own, binary input, and the
// cache's self-healing and --no-cache.
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include <catch2/catch.hpp>

#include <filesystem>

#include "build/build.h"
#include "common/files.h"
#include "compiler/compiler.h"
#include "loader/object.h"
#include "support/test_support.h"

using namespace ebpfrun;

namespace {

build::BuildRequest request_in(const test::TempDir& dir) {
  build::BuildRequest request;
  request.options.cache_dir = dir.file("cache");
  return request;
}

bool btf_has(const std::string& elf, const char* name, int kind) {
  auto object = loader::Object::open(elf, "btf-check");
  REQUIRE(object);
  const struct btf* btf = bpf_object__btf(object->raw());
  REQUIRE(btf != nullptr);
  return btf__find_by_name_kind(btf, name, kind) > 0;
}

size_t files_under(const std::string& dir) {
  size_t n = 0;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec); !ec && it != decltype(it)(); ++it)
    if (it->is_regular_file()) ++n;
  return n;
}

constexpr const char* kInlineAsm = R"(#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
SEC("tracepoint/syscalls/sys_enter_getppid")
int asm_probe(void *ctx)
{
    __u64 x = 0, y = bpf_get_current_pid_tgid();
    asm volatile("%0 = %1" : "=r"(x) : "r"(y));
    /* The cpufreq.bpf.c (libbpf-tools) form: an empty asm tying an operand. */
    asm volatile("" : "=r"(y) : "0"(x));
    return y == 0;
}
char LICENSE[] SEC("license") = "GPL";
)";

}  // namespace

TEST_CASE("inline asm compiles (the BPF asm parser is registered) and loads", "[compiler][build]") {
  test::TempDir dir;
  auto request = request_in(dir);
  request.text = kInlineAsm;
  request.name = dir.file("asm.bpf.c");
  auto out = build::compile(request);
  INFO(out.error_message());
  REQUIRE(out.ok());
  if (!test::have_root()) return;
  auto object = build::load(out.object, "asm");
  INFO((object ? std::string() : object.error()));
  REQUIRE(object);
  CHECK(object->programs().size() == 1);
}

TEST_CASE("types defined in the program's own header reach BTF; kernel and libbpf types do not", "[compiler][build]") {
  test::TempDir dir;
  auto request = request_in(dir);
  const std::string data = test::source_dir() + "/tests/data/headerevent";
  request.file = data + "/headerevent.bpf.c";
  request.options.include_dirs = {data};
  auto out = build::compile(request);
  INFO(out.error_message());
  REQUIRE(out.ok());
  CHECK(btf_has(out.object, "event", BTF_KIND_STRUCT));
  CHECK(btf_has(out.object, "headerevent_kind", BTF_KIND_ENUM));
  // Only what the program uses comes from vmlinux.h, not every kernel type.
  CHECK_FALSE(btf_has(out.object, "cfs_rq", BTF_KIND_STRUCT));
  CHECK_FALSE(btf_has(out.object, "bpf_map_def", BTF_KIND_STRUCT));

  // The same through `ebpfrun compile`: the anchors come from the compiler, so
  // deployed objects carry them too.
  auto run = test::run({test::ebpfrun_binary(), "compile", request.file, "-I", data, "-o", dir.file("h.o")},
                       {"XDG_CACHE_HOME=" + dir.file("cli-cache")});
  INFO(run.err);
  REQUIRE(run.exit_code == 0);
  auto elf = files::read(dir.file("h.o"));
  REQUIRE(elf);
  CHECK(btf_has(*elf, "event", BTF_KIND_STRUCT));
}

TEST_CASE("typedef'd anonymous structs of the main file are anchored by their typedef name", "[compiler][build]") {
  test::TempDir dir;
  auto request = request_in(dir);
  request.text = "typedef struct { int a; } anon_event_t;\nstruct named_only { long b; };\nint f(void) { return 0; }\n";
  request.name = dir.file("anon.bpf.c");
  auto out = build::compile(request);
  INFO(out.error_message());
  REQUIRE(out.ok());
  CHECK(btf_has(out.object, "anon_event_t", BTF_KIND_TYPEDEF));
  CHECK(btf_has(out.object, "named_only", BTF_KIND_STRUCT));
}

TEST_CASE("a vmlinux.h beside the source or in an -I directory wins over the generated one", "[compiler][build]") {
  test::TempDir dir;
  const std::string fake =
      "#ifndef __VMLINUX_H__\n#define __VMLINUX_H__\nstruct ebpfrun_own_vmlinux_marker { int x; };\n#endif\n";
  const std::string source = "#include \"vmlinux.h\"\nint f(struct ebpfrun_own_vmlinux_marker *m) { return m->x; }\n";
  SECTION("beside the source") {
    dir.write("vmlinux.h", fake);
    auto request = request_in(dir);
    request.text = source;
    request.name = dir.file("own.bpf.c");
    auto out = build::compile(request);
    INFO(out.error_message());
    REQUIRE(out.ok());
    CHECK_FALSE(out.stats.pch_used);
  }
  SECTION("in an -I directory") {
    REQUIRE(files::make_dirs(dir.file("inc")));
    dir.write("inc/vmlinux.h", fake);
    REQUIRE(files::make_dirs(dir.file("src")));
    auto request = request_in(dir);
    request.text = source;
    request.name = dir.file("src/own.bpf.c");
    request.options.include_dirs = {dir.file("inc")};
    auto out = build::compile(request);
    INFO(out.error_message());
    REQUIRE(out.ok());
  }
  SECTION("without one, the generated vmlinux.h is the fallback") {
    auto request = request_in(dir);
    request.text = source;
    request.name = dir.file("none.bpf.c");
    auto out = build::compile(request);
    REQUIRE_FALSE(out.ok());
  }
}

TEST_CASE("a binary file is refused with one message that does not echo its bytes", "[compiler][build]") {
  test::TempDir dir;
  auto request = request_in(dir);
  request.file = test::ebpfrun_binary();
  auto out = build::compile(request);
  REQUIRE_FALSE(out.ok());
  CHECK(out.diagnostics.empty());
  CHECK(out.failure.find("is not BPF C source: it contains binary data") != std::string::npos);
  CHECK(out.failure.find("ELF") == std::string::npos);
  CHECK_FALSE(out.stats.backend_loaded);
}

TEST_CASE("compiling with use_cache off (--no-cache) reads and writes no cached artefact", "[compiler][build][cache]") {
  test::TempDir dir;
  auto request = request_in(dir);
  request.text = kInlineAsm;
  request.name = dir.file("nc.bpf.c");
  request.options.use_cache = false;
  auto out = build::compile(request);
  INFO(out.error_message());
  REQUIRE(out.ok());
  CHECK(files_under(dir.file("cache")) == 0);
  CHECK_FALSE(out.stats.pch_used);
}

TEST_CASE("a damaged vmlinux.h in the cache is detected and generated again", "[compiler][build][cache]") {
  test::TempDir dir;
  auto request = request_in(dir);
  request.text = kInlineAsm;
  request.name = dir.file("v.bpf.c");
  REQUIRE(build::compile(request).ok());
  std::string header;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir.file("cache")))
    if (entry.path().filename() == "vmlinux.h") header = entry.path();
  REQUIRE_FALSE(header.empty());
  auto bytes = files::read(header);
  REQUIRE(bytes);
  REQUIRE(files::write_atomic(header, bytes->substr(0, bytes->size() / 2)));
  request.text += "\n// changed, so the object cache misses\n";
  auto out = build::compile(request);
  INFO(out.error_message());
  REQUIRE(out.ok());
  CHECK(out.stats.vmlinux_generated);
  CHECK(files::read(header)->size() == bytes->size());
}

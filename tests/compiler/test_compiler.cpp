// The compiler end to end: real clang backend, real kernel BTF, real cache.
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include <catch2/catch.hpp>

#include <cerrno>
#include <filesystem>
#include <set>

#include "btf/vmlinux_header.h"
#include "common/files.h"
#include "compiler/compiler.h"
#include "compiler/object_cache.h"
#include "loader/object.h"
#include "support/test_support.h"
#include "template/filter.h"

using namespace ebpfrun;
using compiler::CompileOptions;
using compiler::Severity;

namespace {

constexpr const char* kProbe = R"(#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "ebpfrun.h"

struct event { __u32 pid; char comm[16]; };

EBPFRUN_RINGBUF(events, 1 << 16);
EBPFRUN_HASH(counts, __u32, __u64, 1024);

SEC("tracepoint/sched/sched_process_exec")
int on_exec(struct trace_event_raw_sched_process_exec *ctx)
{
    /*FILTER*/
    struct task_struct *task = (void *)bpf_get_current_task();
    struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
    if (!e)
        return 0;
    e->pid = BPF_CORE_READ(task, tgid);
    bpf_get_current_comm(e->comm, sizeof(e->comm));
    bpf_ringbuf_submit(e, 0);
    return 0;
}

SEC("raw_tracepoint/sched_switch")
int on_switch(void *ctx)
{
    __u32 key = 0;
    __u64 one = 1;
    bpf_map_update_elem(&counts, &key, &one, BPF_ANY);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
)";

CompileOptions options_in(const test::TempDir& dir) {
  CompileOptions options;
  options.cache_dir = dir.file("cache");
  return options;
}

}  // namespace

TEST_CASE("a CO-RE probe compiles to an ELF with its programs, maps and BTF", "[compiler]") {
  test::TempDir dir;
  auto out = compiler::compile(kProbe, dir.file("probe.bpf.c"), options_in(dir));
  INFO(out.error_message());
  REQUIRE(out.ok());
  CHECK(out.object.substr(0, 4) ==
        "\x7f"
        "ELF");
  CHECK(out.stats.pch_used);
  CHECK_FALSE(out.stats.cache_hit);

  auto object = loader::Object::open(out.object, "probe");
  REQUIRE(object);
  auto programs = object->programs();
  REQUIRE(programs.size() == 2);
  CHECK(programs[0].name == "on_exec");
  CHECK(programs[0].section == "tracepoint/sched/sched_process_exec");
  CHECK(programs[1].name == "on_switch");
  std::set<std::string> maps;
  for (const auto& m : object->maps()) maps.insert(m.name);
  CHECK(maps.count("events") == 1);
  CHECK(maps.count("counts") == 1);
  // The object carries BTF: map key/value types and CO-RE relocations need it.
  const struct btf* btf = bpf_object__btf(object->raw());
  REQUIRE(btf != nullptr);
  CHECK(btf__find_by_name_kind(btf, "on_exec", BTF_KIND_FUNC) > 0);
}

TEST_CASE("compile errors come back as diagnostics with file, line and column", "[compiler]") {
  test::TempDir dir;
  const std::string source =
      "#include \"vmlinux.h\"\n"
      "#include <bpf/bpf_helpers.h>\n"
      "SEC(\"tracepoint/syscalls/sys_enter_openat\")\n"
      "int f(void *ctx) {\n"
      "    return undeclared_thing + 1;\n"
      "}\n";
  auto out = compiler::compile(source, dir.file("broken.bpf.c"), options_in(dir));
  REQUIRE_FALSE(out.ok());
  REQUIRE_FALSE(out.diagnostics.empty());
  const auto& d = out.diagnostics.front();
  CHECK(d.severity == Severity::error);
  CHECK(d.file == dir.file("broken.bpf.c"));
  CHECK(d.line == 5);
  CHECK(d.column == 12);
  CHECK(d.message.find("undeclared_thing") != std::string::npos);
  CHECK(d.source_line == "    return undeclared_thing + 1;");
  CHECK(out.error_message().find("broken.bpf.c:5:12: error:") != std::string::npos);
  CHECK(out.error().kind == ErrorKind::compile);
  CHECK(out.error().message == out.error_message());
}

TEST_CASE("#line directives map diagnostics to another file (inline C in Lua)", "[compiler]") {
  test::TempDir dir;
  const std::string source = "#line 40 \"script.lua\"\nint f(void) { return nope; }\n";
  auto out = compiler::compile(source, dir.file("inline.bpf.c"), options_in(dir));
  REQUIRE_FALSE(out.ok());
  CHECK(out.diagnostics.front().file == "script.lua");
  CHECK(out.diagnostics.front().line == 40);
}

TEST_CASE("warnings are reported on success", "[compiler]") {
  test::TempDir dir;
  auto out = compiler::compile("int f(void) { int unused_var; return 0; }\n", dir.file("w.bpf.c"), options_in(dir));
  REQUIRE(out.ok());
  // -Wall is not on by default in clang; an implicit conversion warning is.
  auto out2 = compiler::compile("int f(void) { char c = 1000; return c; }\n", dir.file("w2.bpf.c"), options_in(dir));
  REQUIRE(out2.ok());
  REQUIRE_FALSE(out2.diagnostics.empty());
  CHECK(out2.diagnostics.front().severity == Severity::warning);
  CHECK(out2.diagnostics.front().line == 1);
}

TEST_CASE("user include directories, quoted includes beside the source and -D defines work", "[compiler]") {
  test::TempDir dir;
  REQUIRE(files::make_dirs(dir.file("inc")));
  dir.write("inc/limits_of_probe.h", "#define PROBE_LIMIT 7\n");
  dir.write("local.h", "#define LOCAL_VALUE 3\n");
  const std::string source =
      "#include \"limits_of_probe.h\"\n"
      "#include \"local.h\"\n"
      "#if PROBE_LIMIT != 7 || LOCAL_VALUE != 3 || MY_DEFINE != 42 || !defined(FLAG_ONLY)\n"
      "#error \"include or define missing\"\n"
      "#endif\n"
      "int f(void) { return PROBE_LIMIT; }\n";
  auto options = options_in(dir);
  options.include_dirs = {dir.file("inc")};
  options.defines = {"MY_DEFINE=42", "FLAG_ONLY"};
  auto out = compiler::compile(source, dir.file("probe.bpf.c"), options);
  INFO(out.error_message());
  CHECK(out.ok());

  options.defines = {"MY_DEFINE=41", "FLAG_ONLY"};
  auto wrong = compiler::compile(source, dir.file("probe.bpf.c"), options);
  CHECK_FALSE(wrong.ok());
  CHECK(wrong.error_message().find("include or define missing") != std::string::npos);
}

TEST_CASE("a -D define works together with the precompiled header", "[compiler]") {
  test::TempDir dir;
  auto options = options_in(dir);
  options.defines = {"EXTRA=5"};
  auto out = compiler::compile(std::string(kProbe) + "int extra = EXTRA;\n", dir.file("p.bpf.c"), options);
  INFO(out.error_message());
  CHECK(out.ok());
  CHECK(out.stats.pch_used);
}

TEST_CASE("object cache: miss, hit, stale header, corrupt entry, --no-cache", "[compiler][cache]") {
  test::TempDir dir;
  dir.write("shared.h", "#define VALUE 1\n");
  const std::string source = "#include \"shared.h\"\nint f(void) { return VALUE; }\n";
  auto options = options_in(dir);

  auto first = compiler::compile(source, dir.file("c.bpf.c"), options);
  REQUIRE(first.ok());
  CHECK_FALSE(first.stats.cache_hit);

  auto second = compiler::compile(source, dir.file("c.bpf.c"), options);
  REQUIRE(second.ok());
  CHECK(second.stats.cache_hit);
  CHECK(second.object == first.object);

  // Changing a header the source includes invalidates the entry.
  dir.write("shared.h", "#define VALUE 2\n");
  auto third = compiler::compile(source, dir.file("c.bpf.c"), options);
  REQUIRE(third.ok());
  CHECK_FALSE(third.stats.cache_hit);
  CHECK(third.stats.cache_note.find("stale") != std::string::npos);
  CHECK(third.object != first.object);

  // A damaged entry is detected and rebuilt, not served.
  auto cache = compiler::ObjectCache::open(options.cache_dir);
  REQUIRE(cache);
  const std::string entry = cache->entry_path(third.stats.cache_key);
  auto bytes = files::read(entry);
  REQUIRE(bytes);
  REQUIRE(files::write_atomic(entry, bytes->substr(0, bytes->size() / 2)));
  auto fourth = compiler::compile(source, dir.file("c.bpf.c"), options);
  REQUIRE(fourth.ok());
  CHECK_FALSE(fourth.stats.cache_hit);
  CHECK(fourth.stats.cache_note.find("corrupt") != std::string::npos);
  CHECK(fourth.object == third.object);
  CHECK(compiler::compile(source, dir.file("c.bpf.c"), options).stats.cache_hit);

  // --no-cache neither reads nor writes.
  options.use_cache = false;
  auto bypass = compiler::compile(source, dir.file("c.bpf.c"), options);
  REQUIRE(bypass.ok());
  CHECK_FALSE(bypass.stats.cache_hit);
}

TEST_CASE("a different source or define gives a different cache key", "[compiler][cache]") {
  test::TempDir dir;
  auto options = options_in(dir);
  auto a = compiler::compile("int f(void) { return 1; }\n", dir.file("k.bpf.c"), options);
  auto b = compiler::compile("int f(void) { return 2; }\n", dir.file("k.bpf.c"), options);
  options.defines = {"X=1"};
  auto c = compiler::compile("int f(void) { return 1; }\n", dir.file("k.bpf.c"), options);
  REQUIRE((a.ok() && b.ok() && c.ok()));
  CHECK(a.stats.cache_key != b.stats.cache_key);
  CHECK(a.stats.cache_key != c.stats.cache_key);
}

TEST_CASE("a damaged precompiled header is detected by its checksum and rebuilt", "[compiler]") {
  test::TempDir dir;
  auto options = options_in(dir);
  auto first = compiler::compile(kProbe, dir.file("p.bpf.c"), options);
  REQUIRE(first.ok());
  // Find the PCH and damage it: truncated, then garbled in place.
  std::string pch;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(options.cache_dir))
    if (entry.path().extension() == ".pch") pch = entry.path();
  REQUIRE_FALSE(pch.empty());
  auto bytes = files::read(pch);
  REQUIRE(bytes);
  REQUIRE(files::write_atomic(pch, bytes->substr(0, bytes->size() / 3)));
  // Another source, so that the object cache misses and the PCH is needed.
  auto second = compiler::compile(std::string(kProbe) + "\n// two\n", dir.file("p.bpf.c"), options);
  INFO(second.error_message());
  REQUIRE(second.ok());
  CHECK(second.stats.pch_built);
  std::string garbled = *files::read(pch);
  garbled[garbled.size() / 2] ^= 0x55;
  REQUIRE(files::write_atomic(pch, garbled));
  auto third = compiler::compile(std::string(kProbe) + "\n// three\n", dir.file("p.bpf.c"), options);
  INFO(third.error_message());
  REQUIRE(third.ok());
  CHECK(third.stats.pch_built);
  auto fourth = compiler::compile(std::string(kProbe) + "\n// four\n", dir.file("p.bpf.c"), options);
  REQUIRE(fourth.ok());
  CHECK_FALSE(fourth.stats.pch_built);
  CHECK(fourth.stats.pch_used);
}

TEST_CASE("a missing BTF file is one clear error", "[compiler]") {
  test::TempDir dir;
  auto options = options_in(dir);
  options.btf_path = dir.file("no-such-btf");
  auto out = compiler::compile(kProbe, dir.file("p.bpf.c"), options);
  REQUIRE_FALSE(out.ok());
  CHECK(out.failure.find("no-such-btf") != std::string::npos);
  // Not a compile error: the file is missing (ENOENT), whatever the source says.
  CHECK(out.error().kind == ErrorKind::not_found);
  CHECK(out.error().err_no == ENOENT);
}

TEST_CASE("a --btf PATH file supplies kernel types from that file, and a copy of the kernel's is the kernel's",
          "[compiler][cache]") {
  test::TempDir dir;
  auto copy = files::read("/sys/kernel/btf/vmlinux");
  REQUIRE(copy);
  dir.write("vmlinux.btf", *copy);
  auto options = options_in(dir);
  auto kernel = compiler::compile(kProbe, dir.file("p.bpf.c"), options);
  REQUIRE(kernel.ok());
  options.btf_path = dir.file("vmlinux.btf");
  auto out = compiler::compile(kProbe, dir.file("p.bpf.c"), options);
  INFO(out.error_message());
  CHECK(out.ok());
  // The BTF's identity is its content, however the reads were split (sysfs
  // gives 4 KiB a read, a file 64 KiB): the kernel matrix's guests compile
  // against such a copy and must find what the host compiled.
  CHECK(out.stats.cache_hit);
  CHECK(out.stats.cache_key == kernel.stats.cache_key);
  auto a = types::identify_btf("/sys/kernel/btf/vmlinux");
  auto b = types::identify_btf(dir.file("vmlinux.btf"));
  REQUIRE((a && b));
  CHECK(a->hash == b->hash);
  // One byte changed is another identity.
  std::string changed = *copy;
  changed[changed.size() / 2] ^= 1;
  dir.write("changed.btf", changed);
  auto c = types::identify_btf(dir.file("changed.btf"));
  REQUIRE(c);
  CHECK(c->hash != a->hash);
}

TEST_CASE("filtered sources compile, and injected comm text stays a literal", "[compiler][filter]") {
  test::TempDir dir;
  tmpl::FilterSpec spec;
  REQUIRE(tmpl::add_filter_value(spec, "pid", "1234"));
  REQUIRE(tmpl::add_filter_value(spec, "tid", "99"));
  REQUIRE(tmpl::add_filter_value(spec, "uid", "0"));
  REQUIRE(tmpl::add_filter_value(spec, "comm", "x\"); evil();//"));
  REQUIRE(tmpl::add_filter_value(spec, "comm", "a*/b\\c"));
  REQUIRE(tmpl::add_filter_value(spec, "comm_prefix", "ng"));
  REQUIRE(tmpl::add_filter_value(spec, "cgroup", "1"));
  auto filtered = tmpl::apply_filter(kProbe, spec, "probe.bpf.c");
  REQUIRE(filtered);
  CHECK(filtered->find("evil") == std::string::npos);
  auto out = compiler::compile(*filtered, dir.file("f.bpf.c"), options_in(dir));
  INFO(out.error_message());
  REQUIRE(out.ok());
  CHECK(out.object.find("evil") == std::string::npos);
  CHECK(out.diagnostics.empty());
}

TEST_CASE("compiled objects load into this kernel", "[compiler][kernel]") {
  if (!test::have_root()) return;
  test::TempDir dir;
  tmpl::FilterSpec spec;
  REQUIRE(tmpl::add_filter_value(spec, "comm", "bash"));
  REQUIRE(tmpl::add_filter_value(spec, "pid", "1"));
  auto filtered = tmpl::apply_filter(kProbe, spec, "probe.bpf.c");
  REQUIRE(filtered);
  // The full form (prebuilt objects) with every count 0: all checks pass.
  auto full = tmpl::apply_filter(kProbe, {}, "probe.bpf.c", tmpl::FilterForm::full);
  REQUIRE(full);
  for (const std::string& source : {std::string(kProbe), *filtered, *full}) {
    auto out = compiler::compile(source, dir.file("load.bpf.c"), options_in(dir));
    INFO(out.error_message());
    REQUIRE(out.ok());
    auto object = loader::Object::open(out.object, "load");
    REQUIRE(object);
    auto loaded = object->load();
    INFO((loaded ? std::string() : loaded.error()));
    REQUIRE(loaded);
    for (const auto& p : object->programs()) CHECK(p.id > 0);
  }
}

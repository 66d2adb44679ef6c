// `ebpfrun compile` and `ebpfrun check` as a user runs them: exit codes,
// messages, and that a warm cache never loads LLVM.
#include <catch2/catch.hpp>
#include <filesystem>

#include "common/files.h"
#include "support/test_support.h"

using namespace ebpfrun;
using test::run;

namespace {

std::string data(const std::string& name) { return test::source_dir() + "/tests/data/" + name; }

std::vector<std::string> env_for(const test::TempDir& dir) { return {"XDG_CACHE_HOME=" + dir.file("cache")}; }

}  // namespace

TEST_CASE("ebpfrun compile builds an ordinary libbpf CO-RE program unchanged", "[cli]") {
  test::TempDir dir;
  auto r =
      run({test::ebpfrun_binary(), "compile", data("coreprog/procwatch.bpf.c"), "-o", dir.file("p.o")}, env_for(dir));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto elf = files::read(dir.file("p.o"));
  REQUIRE(elf);
  CHECK(elf->substr(0, 4) ==
        "\x7f"
        "ELF");
  CHECK(elf->find("handle_exec") != std::string::npos);
}

TEST_CASE("ebpfrun compile builds a UAPI-header program without vmlinux.h", "[cli]") {
  test::TempDir dir;
  auto r = run({test::ebpfrun_binary(), "compile", data("uapi.bpf.c"), "-o", dir.file("u.o")}, env_for(dir));
  INFO(r.err);
  CHECK(r.exit_code == 0);
}

TEST_CASE("ebpfrun compile takes -I and -D", "[cli]") {
  test::TempDir dir;
  dir.write("inc.h", "#define FROM_INCLUDE 1\n");
  dir.write("p.bpf.c", "#include <inc.h>\n#if !FROM_INCLUDE || NUM != 3\n#error bad\n#endif\nint f(void){return 0;}\n");
  auto r = run(
      {test::ebpfrun_binary(), "compile", dir.file("p.bpf.c"), "-I", dir.path(), "-D", "NUM=3", "-o", dir.file("p.o")},
      env_for(dir));
  INFO(r.err);
  CHECK(r.exit_code == 0);
  auto wrong =
      run({test::ebpfrun_binary(), "compile", dir.file("p.bpf.c"), "-I", dir.path(), "-DNUM=4", "-o", dir.file("p.o")},
          env_for(dir));
  CHECK(wrong.exit_code == 1);
  CHECK(wrong.err.find("error: bad") != std::string::npos);
}

TEST_CASE("a compile error prints clang-style diagnostics and exits 1", "[cli]") {
  test::TempDir dir;
  auto r = run({test::ebpfrun_binary(), "compile", data("broken.bpf.c"), "-o", dir.file("b.o")}, env_for(dir));
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("broken.bpf.c:7:13: error: expected expression") != std::string::npos);
  CHECK(r.err.find("    int x = ;\n            ^") != std::string::npos);
  CHECK_FALSE(files::exists(dir.file("b.o")));
}

TEST_CASE("usage errors exit 2 with a message", "[cli]") {
  test::TempDir dir;
  auto no_output = run({test::ebpfrun_binary(), "compile", data("uapi.bpf.c")}, env_for(dir));
  CHECK(no_output.exit_code == 2);
  CHECK(no_output.err.find("--output") != std::string::npos);
  auto unknown_flag = run({test::ebpfrun_binary(), "compile", "--frobnicate", data("uapi.bpf.c"), "-o", "x.o"});
  CHECK(unknown_flag.exit_code == 2);
  auto unknown_field = run({test::ebpfrun_binary(), "compile", data("uapi.bpf.c"), "-F", "pdi=1", "-o", "x.o"});
  CHECK(unknown_field.exit_code == 2);
  CHECK(unknown_field.err.find("known fields are: pid, tid, comm, comm_prefix, uid, cgroup") != std::string::npos);
  auto long_comm =
      run({test::ebpfrun_binary(), "compile", data("uapi.bpf.c"), "-F", "comm=abcdefghijklmnop", "-o", "x.o"});
  CHECK(long_comm.exit_code == 2);
  auto no_command = run({test::ebpfrun_binary()});
  CHECK(no_command.exit_code == 2);
}

TEST_CASE("a missing source file or a filter without a placeholder exits 1", "[cli]") {
  test::TempDir dir;
  auto missing = run({test::ebpfrun_binary(), "compile", dir.file("nope.bpf.c"), "-o", dir.file("x.o")}, env_for(dir));
  CHECK(missing.exit_code == 1);
  CHECK(missing.err.find("nope.bpf.c") != std::string::npos);
  auto no_placeholder =
      run({test::ebpfrun_binary(), "compile", data("uapi.bpf.c"), "-F", "pid=1", "-o", dir.file("x.o")}, env_for(dir));
  CHECK(no_placeholder.exit_code == 1);
  CHECK(no_placeholder.err.find("uapi.bpf.c has no /*FILTER*/ placeholder") != std::string::npos);
}

TEST_CASE("a cache hit does not load the clang backend or LLVM", "[cli][cache]") {
  test::TempDir dir;
  const std::vector<std::string> argv = {
      test::ebpfrun_binary(), "-v", "compile", test::source_dir() + "/examples/opens.bpf.c", "-o", dir.file("o.o")};
  auto env = env_for(dir);
  env.push_back("LD_DEBUG=files");
  auto cold = run(argv, env);
  INFO(cold.err.substr(0, 2000));
  REQUIRE(cold.exit_code == 0);
  CHECK(cold.err.find("libebpfrun-clang.so") != std::string::npos);
  auto warm = run(argv, env);
  REQUIRE(warm.exit_code == 0);
  CHECK(warm.err.find("object cache hit") != std::string::npos);
  CHECK(warm.err.find("libebpfrun-clang.so") == std::string::npos);
  CHECK(warm.err.find("libLLVM") == std::string::npos);
  CHECK(warm.err.find("libclang-cpp") == std::string::npos);
}

TEST_CASE("ebpfrun check loads the bundled example into the kernel and unloads it", "[cli][kernel]") {
  if (!test::have_root()) return;
  test::TempDir dir;
  auto r = run({test::ebpfrun_binary(), "check", test::source_dir() + "/examples/opens.bpf.c", "-F", "comm=bash"},
               env_for(dir));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("program count_openat") != std::string::npos);
  CHECK(r.out.find("map     opens_by_pid") != std::string::npos);
  CHECK(r.out.find("unloaded") != std::string::npos);
}

TEST_CASE("ebpfrun check of an empty file (no programs) is an error, not a success", "[cli][kernel]") {
  if (!test::have_root()) return;
  test::TempDir dir;
  auto r = run({test::ebpfrun_binary(), "check", "/dev/null"}, env_for(dir));
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("/dev/null has no BPF programs") != std::string::npos);
  CHECK(r.out.find("unloaded") == std::string::npos);
}

TEST_CASE("compiling a binary file is one clear error without its bytes", "[cli]") {
  test::TempDir dir;
  auto r = run({test::ebpfrun_binary(), "compile", test::ebpfrun_binary(), "-o", dir.file("x.o")}, env_for(dir));
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("is not BPF C source: it contains binary data") != std::string::npos);
  CHECK(r.err.find("ELF") == std::string::npos);
  CHECK(r.err.size() < 400);
  CHECK_FALSE(files::exists(dir.file("x.o")));
}

TEST_CASE("--help and --version", "[cli]") {
  auto help = run({test::ebpfrun_binary(), "--help"});
  CHECK(help.exit_code == 0);
  CHECK(help.out.find("compile") != std::string::npos);
  auto version = run({test::ebpfrun_binary(), "--version"});
  CHECK(version.exit_code == 0);
  CHECK(version.out.find("ebpfrun") != std::string::npos);
}

TEST_CASE("compile --prebuilt names the object for its source and defines; a lookup takes it without a compiler",
          "[cli]") {
  test::TempDir dir;
  auto text = files::read(data("coreprog/procwatch.bpf.c"));
  REQUIRE(text);
  REQUIRE(files::make_dirs(dir.file("src")));
  REQUIRE(files::make_dirs(dir.file("pre")));
  auto header = files::read(data("coreprog/procwatch.h"));
  REQUIRE(header);
  dir.write("src/procwatch.bpf.c", *text);
  dir.write("src/procwatch.h", *header);
  const std::string source = dir.file("src/procwatch.bpf.c");
  auto made = run({test::ebpfrun_binary(), "compile", source, "--prebuilt", dir.file("pre")}, env_for(dir));
  INFO(made.err);
  REQUIRE(made.exit_code == 0);
  std::vector<std::string> objects;
  for (const auto& entry : std::filesystem::directory_iterator(dir.file("pre")))
    objects.push_back(entry.path().filename().string());
  REQUIRE(objects.size() == 1);
  CHECK(objects[0].starts_with("procwatch-"));
  CHECK(objects[0].ends_with(".o"));

  // With no compiler library at all, only a prebuilt object can succeed.
  std::vector<std::string> env = {"XDG_CACHE_HOME=" + dir.file("empty-cache"),
                                  "EBPFRUN_COMPILER_LIB=/nonexistent/libebpfrun-clang.so",
                                  "EBPFRUN_PREBUILT_DIR=" + dir.file("pre")};
  auto taken = run({test::ebpfrun_binary(), "-v", "compile", source, "-o", dir.file("p.o")}, env);
  INFO(taken.err);
  CHECK(taken.exit_code == 0);
  CHECK(taken.err.find("prebuilt object " + dir.file("pre") + "/procwatch-") != std::string::npos);
  CHECK(files::exists(dir.file("p.o")));
  // Another define, an edited source, or --no-cache: no prebuilt object, so a compile, which fails here.
  auto defined = run({test::ebpfrun_binary(), "compile", source, "-D", "X=1", "-o", dir.file("q.o")}, env);
  CHECK(defined.exit_code != 0);
  CHECK(defined.err.find("EBPFRUN_COMPILER_LIB") != std::string::npos);
  auto no_cache = run({test::ebpfrun_binary(), "--no-cache", "compile", source, "-o", dir.file("q.o")}, env);
  CHECK(no_cache.exit_code != 0);
  // An edited header beside the source (it is included in quotes) counts too.
  dir.write("src/procwatch.h", *header + "\n// edited\n");
  auto edited = run({test::ebpfrun_binary(), "compile", source, "-o", dir.file("q.o")}, env);
  CHECK(edited.exit_code != 0);
  dir.write("src/procwatch.h", *header);
  CHECK(run({test::ebpfrun_binary(), "compile", source, "-o", dir.file("q.o")}, env).exit_code == 0);

  // A prebuilt object serves every filter, so it takes no filter values.
  auto filtered =
      run({test::ebpfrun_binary(), "compile", source, "-F", "pid=1", "--prebuilt", dir.file("pre")}, env_for(dir));
  CHECK(filtered.exit_code == 2);
  CHECK(filtered.err.find("--prebuilt") != std::string::npos);
}

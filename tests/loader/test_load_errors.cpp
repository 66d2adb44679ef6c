// Loading big objects and the messages of failed loads: the verifier log is
// allocated lazily (a many-program object does not reserve a log per program
// in memory), fd exhaustion is named as such, and a rejection leads with the
// verifier's reason even when its log was truncated (ENOSPC).
#include <sys/resource.h>

#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>
#include <string>

#include <fmt/format.h>

#include "loader/object.h"
#include "support/test_support.h"

using namespace ebpfrun;

namespace {

// N trivial tracepoint programs named lel_<i>.
std::string many_programs(int n) {
  std::string source = "#include \"vmlinux.h\"\n#include <bpf/bpf_helpers.h>\n";
  for (int i = 0; i < n; ++i)
    source += fmt::format("SEC(\"tracepoint/syscalls/sys_enter_getppid\") int lel_{}(void *ctx) {{ return {}; }}\n", i,
                          i % 7);
  return source + "char LICENSE[] SEC(\"license\") = \"GPL\";\n";
}

long rss_kib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

constexpr const char* kRejected = R"(#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 4); __type(key, __u32); __type(value, __u64); } vals SEC(".maps");
SEC("tracepoint/syscalls/sys_enter_getppid")
int lel_rejected(void *ctx)
{
    __u32 key = 0;
    __u64 *v = bpf_map_lookup_elem(&vals, &key);
    return *v > 3;
}
char LICENSE[] SEC("license") = "GPL";
)";

}  // namespace

TEST_CASE("a 1,000-program object loads without a verifier log buffer per program in memory", "[loader][kernel]") {
  if (!test::have_root()) return;
  loader::raise_open_file_limit();
  test::TempDir dir;
  auto elf = test::compile_bpf(many_programs(1000), dir, "many.bpf.c");
  auto object = loader::Object::open(elf, "many");
  REQUIRE(object);
  const long before = rss_kib();
  auto loaded = object->load();
  INFO((loaded ? std::string() : loaded.error()));
  REQUIRE(loaded);
  const long grown = rss_kib() - before;
  std::printf("RSS growth loading 1,000 programs: %ld KiB (an eager 256 KiB log each would be 256,000 KiB)\n", grown);
  CHECK(object->programs().size() == 1000);
  // A generous bound: eager logs would add ~250 MiB.
  CHECK(grown < 100 * 1024);
}

TEST_CASE("running out of file descriptors is reported as such, not as a verifier problem", "[loader][kernel]") {
  if (!test::have_root()) return;
  test::TempDir dir;
  auto elf = test::compile_bpf(many_programs(64), dir, "fds.bpf.c");
  auto object = loader::Object::open(elf, "fds");
  REQUIRE(object);
  struct rlimit saved {};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &saved) == 0);
  // Room for what is open now plus a few programs, not for 64.
  int probe = ::dup(0);
  struct rlimit tight = saved;
  tight.rlim_cur = static_cast<rlim_t>(probe + 8);
  ::close(probe);
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &tight) == 0);
  auto loaded = object->load();
  ::setrlimit(RLIMIT_NOFILE, &saved);
  REQUIRE_FALSE(loaded);
  INFO(loaded.error());
  CHECK(loaded.error().find("too many open files") != std::string::npos);
  CHECK(loaded.error().find("ulimit -n") != std::string::npos);
  CHECK(loaded.error().find("verifier") == std::string::npos);
  object->close();
  CHECK_FALSE(test::kernel_has_program("lel_0"));
}

TEST_CASE("a rejection with a log too long for its buffer leads with the verifier's reason, not ENOSPC",
          "[loader][kernel]") {
  if (!test::have_root()) return;
  test::TempDir dir;
  auto object = loader::Object::open(test::compile_bpf(kRejected, dir, "rej.bpf.c"), "rej");
  REQUIRE(object);
  loader::LoadOptions options;
  options.initial_log_size = 64;
  options.max_log_size = 256;  // smaller than the whole log: it stays truncated
  auto loaded = object->load(options);
  REQUIRE_FALSE(loaded);
  const std::string& message = loaded.error();
  INFO(message);
  const std::string first_line = message.substr(0, message.find('\n'));
  CHECK(first_line.find("the verifier rejected program 'lel_rejected'") != std::string::npos);
  CHECK(first_line.find("No space left on device") == std::string::npos);
  CHECK(message.find("No space left on device") == std::string::npos);
  CHECK(message.find("did not fit in 256 bytes") != std::string::npos);
  object->close();
}

TEST_CASE("raise_open_file_limit lifts the soft limit to the hard limit", "[loader]") {
  struct rlimit saved {};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &saved) == 0);
  struct rlimit lowered = saved;
  lowered.rlim_cur = std::min<rlim_t>(saved.rlim_max, 512);
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &lowered) == 0);
  CHECK(loader::raise_open_file_limit() == static_cast<unsigned long long>(saved.rlim_max));
  struct rlimit now {};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &now) == 0);
  CHECK(now.rlim_cur == saved.rlim_max);
  ::setrlimit(RLIMIT_NOFILE, &saved);
}

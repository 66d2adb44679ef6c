#include "support/test_support.h"

#include <bpf/bpf.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <algorithm>

#include <catch2/catch.hpp>

#include "compiler/compiler.h"

namespace ebpfrun::test {

bool have_root() {
  if (::geteuid() == 0) return true;
  const char* ci = std::getenv("CI");
  if (ci && std::string(ci) == "true")
    FAIL("this test needs root (CAP_BPF, CAP_PERFMON) and CI=true forbids skipping it");
  WARN("skipped: this test needs root (CAP_BPF, CAP_PERFMON); run the suite as root");
  return false;
}

TempDir::TempDir() {
  std::string base = std::filesystem::temp_directory_path().string() + "/ebpfrun-test-XXXXXX";
  char* made = ::mkdtemp(base.data());
  path_ = made ? made : "";
  REQUIRE(!path_.empty());
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

void TempDir::write(const std::string& name, const std::string& contents) const {
  std::ofstream out(file(name), std::ios::binary);
  out << contents;
}

namespace {
std::string slurp(int fd) {
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}
}  // namespace

ProcessResult run(const std::vector<std::string>& argv, const std::vector<std::string>& extra_env) {
  TempDir dir;
  std::string out_path = dir.file("out"), err_path = dir.file("err");
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int null = ::open("/dev/null", O_RDONLY);
    ::dup2(null, 0);
    ::dup2(out, 1);
    ::dup2(err, 2);
    for (const auto& e : extra_env) ::putenv(const_cast<char*>(e.c_str()));
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  ProcessResult result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  int fd = ::open(out_path.c_str(), O_RDONLY);
  result.out = slurp(fd);
  ::close(fd);
  fd = ::open(err_path.c_str(), O_RDONLY);
  result.err = slurp(fd);
  ::close(fd);
  return result;
}

namespace {
template <typename Info>
std::vector<std::string> kernel_names(int (*next_id)(__u32, __u32*), int (*fd_by_id)(__u32)) {
  std::vector<std::string> names;
  __u32 id = 0;
  while (next_id(id, &id) == 0) {
    int fd = fd_by_id(id);
    if (fd < 0) continue;
    Info info{};
    __u32 len = sizeof info;
    if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0) names.emplace_back(info.name);
    ::close(fd);
  }
  return names;
}
}  // namespace

std::vector<std::string> kernel_program_names() {
  return kernel_names<bpf_prog_info>(bpf_prog_get_next_id, bpf_prog_get_fd_by_id);
}
std::vector<std::string> kernel_map_names() {
  return kernel_names<bpf_map_info>(bpf_map_get_next_id, bpf_map_get_fd_by_id);
}
bool kernel_has_program(const std::string& name) {
  auto names = kernel_program_names();
  return std::find(names.begin(), names.end(), name.substr(0, 15)) != names.end();
}
bool kernel_has_map(const std::string& name) {
  auto names = kernel_map_names();
  return std::find(names.begin(), names.end(), name.substr(0, 15)) != names.end();
}

std::string compile_bpf(const std::string& source, const TempDir& dir, const std::string& name) {
  // Written to disk as a user's file would be: the BPF backend reads the
  // source text of BTF line info (quoted by the verifier) from the file.
  dir.write(name, source);
  compiler::CompileOptions options;
  options.cache_dir = dir.file("cache");
  auto out = compiler::compile(source, dir.file(name), options);
  INFO(out.error_message());
  REQUIRE(out.ok());
  return out.object;
}

std::string ebpfrun_binary() { return EBPFRUN_TEST_BINARY; }
std::string source_dir() { return EBPFRUN_TEST_SOURCE_DIR; }

}  // namespace ebpfrun::test

#include "support/test_support.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <catch2/catch.hpp>

namespace ebpfrun::test {

bool have_root() {
  if (::geteuid() == 0) return true;
  const char* ci = std::getenv("CI");
  if (ci && std::string(ci) == "true") FAIL("this test needs root (CAP_BPF, CAP_PERFMON) and CI=true forbids skipping it");
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

std::string ebpfrun_binary() { return EBPFRUN_TEST_BINARY; }
std::string source_dir() { return EBPFRUN_TEST_SOURCE_DIR; }

}  // namespace ebpfrun::test

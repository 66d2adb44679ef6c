// Helpers shared by the Catch2 suites: privilege gating, temporary directories,
// running the ebpfrun binary as a subprocess.
#pragma once

#include <string>
#include <vector>

namespace ebpfrun::test {

// True when the test may use the kernel's privileged BPF features. Otherwise it
// records why the test is skipped; under CI=true a missing privilege fails the
// test instead, because CI must run every integration test.
bool have_root();

// A fresh directory under $TMPDIR, removed with its contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  void write(const std::string& name, const std::string& contents) const;

 private:
  std::string path_;
};

struct ProcessResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs argv (argv[0] is a path) with extra environment entries, capturing output.
ProcessResult run(const std::vector<std::string>& argv, const std::vector<std::string>& extra_env = {});

// Names of every BPF program / map currently in the kernel (all owners). Tests
// give their programs distinctive names and check these after cleaning up.
std::vector<std::string> kernel_program_names();
std::vector<std::string> kernel_map_names();
bool kernel_has_program(const std::string& name);
bool kernel_has_map(const std::string& name);

// Compiles BPF C (in-process compiler, cache under `dir`) and returns the ELF; REQUIREs success.
std::string compile_bpf(const std::string& source, const TempDir& dir, const std::string& name = "test.bpf.c");

// The ebpfrun binary and the project source tree, passed in by CMake.
std::string ebpfrun_binary();
std::string source_dir();

}  // namespace ebpfrun::test

// Preflight against the real machine: run as root on the project's test VM
// (Linux 6.18, CONFIG_KPROBES off, fentry refused). Expectations about kernel
// features are taken from independent evidence (kallsyms) where the kernel
// could differ.
#include <catch2/catch.hpp>

#include <sched.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "common/files.h"
#include "support/test_support.h"
#include "system/kernel.h"
#include "system/mounts.h"
#include "system/preflight.h"

using namespace ebpfrun;
using namespace ebpfrun::system;

namespace {

const Check& find(const std::vector<Check>& checks, const std::string& name) {
  auto it = std::find_if(checks.begin(), checks.end(), [&](const Check& c) { return c.name == name; });
  INFO("looking for check " << name);
  REQUIRE(it != checks.end());
  return *it;
}

bool ok_or_fixed(const Check& c) { return c.status == CheckStatus::ok || c.status == CheckStatus::fixed; }

// Independent evidence for CONFIG_KPROBES: register_kprobe is in kallsyms.
bool kernel_has_kprobes() {
  std::ifstream in("/proc/kallsyms");
  std::string line;
  while (std::getline(in, line))
    if (line.size() > 16 && line.compare(line.size() - 16, 16, " register_kprobe") == 0) return true;
  return false;
}

}  // namespace

TEST_CASE("full preflight on this machine as root", "[system][preflight][root]") {
  if (!test::have_root()) return;
  PreflightOptions options;
  options.probe_features = true;  // and mount what is missing, as a run would
  auto checks = run_preflight(options);
  for (const auto& c : checks) UNSCOPED_INFO(c.name << " " << status_name(c.status) << " " << c.detail);

  for (const char* cap : {"CAP_BPF", "CAP_PERFMON", "CAP_SYS_ADMIN", "CAP_NET_ADMIN"})
    CHECK(find(checks, cap).status == CheckStatus::ok);
  CHECK(ok_or_fixed(find(checks, "tracefs")));
  CHECK(ok_or_fixed(find(checks, "bpffs")));
  CHECK(find(checks, "btf").status == CheckStatus::ok);
  CHECK(find(checks, "btf").detail.rfind("kernel BTF at /sys/kernel/btf/vmlinux (", 0) == 0);
  CHECK(find(checks, "kernel").status == CheckStatus::ok);
  CHECK(find(checks, "prog tracepoint").status == CheckStatus::ok);
  CHECK(find(checks, "prog raw_tracepoint").status == CheckStatus::ok);
  CHECK(find(checks, "prog tracing (tp_btf)").status == CheckStatus::ok);
  CHECK(find(checks, "map hash").status == CheckStatus::ok);
  CHECK(find(checks, "map ringbuf").status == CheckStatus::ok);
  CHECK(find(checks, "helper bpf_ringbuf_reserve").status == CheckStatus::ok);
  CHECK(find(checks, "uprobes").status == CheckStatus::ok);
  CHECK(find(checks, "bpf_stats").status == CheckStatus::ok);

  const auto& kprobes = find(checks, "kprobes");
  if (kernel_has_kprobes()) {
    CHECK(kprobes.status == CheckStatus::ok);
  } else {
    CHECK(kprobes.status == CheckStatus::warning);
    CHECK(kprobes.detail.rfind("kprobes: not available — use tracepoints/raw_tp/tp_btf/uprobes", 0) == 0);
    CHECK_FALSE(kprobes.blocking);
  }
  // This kernel refuses fentry loads (see DESIGN.md).
  const auto& fentry = find(checks, "fentry");
  CHECK(fentry.status == CheckStatus::warning);
  CHECK(fentry.detail.rfind("fentry/fexit: not available — the kernel refused to load", 0) == 0);

  CHECK_FALSE(has_blocking_failure(checks));
}

TEST_CASE("the run preflight is the short list and passes as root", "[system][preflight][root]") {
  if (!test::have_root()) return;
  auto result = preflight_for_run();
  INFO((result ? "" : result.error()));
  REQUIRE(result);
  const auto& checks = *result;
  CHECK(find(checks, "CAP_BPF").status == CheckStatus::ok);
  CHECK(ok_or_fixed(find(checks, "tracefs")));
  // No feature probes on the run path.
  CHECK(std::none_of(checks.begin(), checks.end(), [](const Check& c) { return c.name == "map hash"; }));
  CHECK(std::none_of(checks.begin(), checks.end(), [](const Check& c) { return c.name == "fentry"; }));
}

TEST_CASE("a missing --btf file is the run's blocking error", "[system][preflight]") {
  PreflightOptions options;
  options.btf_path = "/nonexistent/vmlinux";
  options.mounts = MountPolicy::report;
  auto result = preflight_for_run(options);
  REQUIRE_FALSE(result);
  if (::geteuid() == 0)
    CHECK(result.error() ==
          "cannot read the BTF file /nonexistent/vmlinux given with --btf: No such file or directory. "
          "(`ebpfrun doctor` lists every check.)");
}

TEST_CASE("a file that is not BTF is rejected", "[system][preflight]") {
  test::TempDir dir;
  dir.write("fake.btf", "this is not BTF at all");
  auto c = check_btf(dir.file("fake.btf"));
  CHECK(c.status == CheckStatus::failed);
  CHECK(c.blocking);
  CHECK(c.detail.find(dir.file("fake.btf") + " is not usable BTF") == 0);
  // A run checks the header only, and rejects the same file.
  auto header_only = check_btf(dir.file("fake.btf"), false);
  CHECK(header_only.status == CheckStatus::failed);
  CHECK(header_only.detail == dir.file("fake.btf") +
                                  " is not usable BTF (no BTF magic number): pass a BTF file for "
                                  "this kernel with --btf PATH.");
}

TEST_CASE("a run checks the BTF header without parsing it; doctor parses it", "[system][preflight]") {
  if (::access("/sys/kernel/btf/vmlinux", R_OK) != 0) return;
  auto header_only = check_btf("", false);
  CHECK(header_only.status == CheckStatus::ok);
  CHECK(header_only.detail == "kernel BTF at /sys/kernel/btf/vmlinux.");
  auto parsed = check_btf("", true);
  CHECK(parsed.status == CheckStatus::ok);
  CHECK(parsed.detail.find(" types).") != std::string::npos);
  // A file cut short after a sound header is refused by the header check too.
  test::TempDir dir;
  std::string bytes = files::read("/sys/kernel/btf/vmlinux").value();
  dir.write("cut.btf", bytes.substr(0, bytes.size() / 2));
  auto cut = check_btf(dir.file("cut.btf"), false);
  CHECK(cut.status == CheckStatus::failed);
  CHECK(cut.detail.find("shorter than its header says") != std::string::npos);
}

// The mount path for real, without disturbing anyone: in a forked child with
// its own mount namespace, unmount tracefs and bpffs, run the run preflight,
// and report what it said and what is mounted afterwards.
TEST_CASE("a run mounts missing tracefs and bpffs and says so", "[system][preflight][root]") {
  if (!test::have_root()) return;
  int pipe_fds[2];
  REQUIRE(::pipe(pipe_fds) == 0);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(pipe_fds[0]);
    std::ostringstream out;
    auto finish = [&](int code) {
      std::string s = out.str();
      [[maybe_unused]] ssize_t n = ::write(pipe_fds[1], s.data(), s.size());
      ::_exit(code);
    };
    if (::unshare(CLONE_NEWNS) != 0) finish(10);
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) finish(11);
    for (const char* target : {"/sys/kernel/debug/tracing", "/sys/kernel/tracing", "/sys/fs/bpf"})
      ::umount2(target, MNT_DETACH);
    auto before = read_mounts();
    if (!before) finish(12);
    out << "before tracefs=" << find_mount(*before, tracefs_need()).value_or("none")
        << " bpffs=" << find_mount(*before, bpffs_need()).value_or("none") << "\n";
    auto result = preflight_for_run();
    if (!result) {
      out << "error " << result.error() << "\n";
      finish(13);
    }
    for (const auto& c : *result)
      if (c.name == "tracefs" || c.name == "bpffs")
        out << c.name << "|" << status_name(c.status) << "|" << c.detail << "\n";
    auto after = read_mounts();
    if (!after) finish(14);
    out << "after tracefs=" << find_mount(*after, tracefs_need()).value_or("none")
        << " bpffs=" << find_mount(*after, bpffs_need()).value_or("none") << "\n";
    out << "tracepoint dir=" << (files::exists("/sys/kernel/tracing/events/sched/sched_switch/id") ? "yes" : "no")
        << "\n";
    finish(0);
  }
  ::close(pipe_fds[1]);
  std::string report;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(pipe_fds[0], buf, sizeof buf)) > 0) report.append(buf, static_cast<size_t>(n));
  ::close(pipe_fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  INFO(report);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  CHECK(report.find("before tracefs=none bpffs=none\n") != std::string::npos);
  CHECK(report.find("tracefs|fixed|tracefs was not mounted; ebpfrun mounted it at /sys/kernel/tracing.\n") !=
        std::string::npos);
  CHECK(report.find("bpffs|fixed|bpffs was not mounted; ebpfrun mounted it at /sys/fs/bpf.\n") != std::string::npos);
  CHECK(report.find("after tracefs=/sys/kernel/tracing bpffs=/sys/fs/bpf\n") != std::string::npos);
  CHECK(report.find("tracepoint dir=yes\n") != std::string::npos);

  // Our own namespace was never touched.
  auto mounts = read_mounts();
  REQUIRE(mounts);
  CHECK(find_mount(*mounts, tracefs_need()));
  CHECK(find_mount(*mounts, bpffs_need()));
}

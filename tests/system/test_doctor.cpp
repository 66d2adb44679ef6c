// `ebpfrun doctor` as a user runs it.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <sstream>

#include "support/test_support.h"

using namespace ebpfrun;

namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

}  // namespace

TEST_CASE("ebpfrun doctor prints the table and exits 0 as root", "[system][doctor][root]") {
  if (!test::have_root()) return;
  auto r = test::run({test::ebpfrun_binary(), "doctor"});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  auto lines = lines_of(r.out);
  REQUIRE(lines.size() > 10);
  CHECK(lines[0].rfind("CHECK", 0) == 0);
  // Columns line up: STATUS and DETAIL start at the same place on every row.
  const size_t status_col = lines[0].find("STATUS");
  const size_t detail_col = lines[0].find("DETAIL");
  REQUIRE(status_col != std::string::npos);
  REQUIRE(detail_col != std::string::npos);
  bool saw_kprobes = false;
  for (size_t i = 1; i < lines.size() && !lines[i].empty(); ++i) {
    INFO(lines[i]);
    CHECK(lines[i][status_col - 1] == ' ');
    CHECK(lines[i][status_col] != ' ');
    CHECK(lines[i][detail_col - 1] == ' ');
    if (lines[i].rfind("kprobes ", 0) == 0) saw_kprobes = true;
  }
  CHECK(saw_kprobes);
  CHECK(r.out.find("CAP_BPF") != std::string::npos);
  CHECK(r.out.find("ready: nothing blocking") != std::string::npos);
}

TEST_CASE("ebpfrun doctor --json prints one JSON object per check", "[system][doctor][root]") {
  if (!test::have_root()) return;
  auto r = test::run({test::ebpfrun_binary(), "doctor", "--json"});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  auto lines = lines_of(r.out);
  REQUIRE(lines.size() > 10);
  bool saw_kprobes = false;
  for (const auto& line : lines) {
    INFO(line);
    CHECK(line.front() == '{');
    CHECK(line.back() == '}');
    CHECK(line.rfind("{\"check\":\"", 0) == 0);
    CHECK(line.find("\"status\":\"") != std::string::npos);
    CHECK(line.find("\"detail\":\"") != std::string::npos);
    if (line.rfind("{\"check\":\"kprobes\"", 0) == 0) saw_kprobes = true;
  }
  CHECK(saw_kprobes);
}

TEST_CASE("ebpfrun doctor exits 1 on a blocking failure", "[system][doctor]") {
  auto r = test::run({test::ebpfrun_binary(), "--btf", "/nonexistent/vmlinux", "doctor"});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 1);
  CHECK(r.out.find("cannot read the BTF file /nonexistent/vmlinux given with --btf") != std::string::npos);
  CHECK(r.out.find("blocking problem") != std::string::npos);
}

// Real capability sets without another user: a root process whose capability
// bounding set is cut keeps uid 0 (so it can read the build tree) but only the
// capabilities left in the set.
TEST_CASE("ebpfrun doctor with reduced capabilities names what is missing", "[system][doctor][root]") {
  if (!test::have_root()) return;
  const std::string setpriv = "/usr/bin/setpriv";
  if (::access(setpriv.c_str(), X_OK) != 0) {
    WARN("skipped: needs setpriv (util-linux) to drop capabilities");
    return;
  }
  SECTION("no capabilities: blocked, with the setcap command") {
    auto r = test::run({setpriv, "--bounding-set=-all", test::ebpfrun_binary(), "doctor"});
    INFO(r.out << r.err);
    CHECK(r.exit_code == 1);
    CHECK(r.out.find("CAP_BPF is missing, so no BPF program or map can be created: run as root or grant it with "
                     "`setcap cap_bpf,cap_perfmon+ep " +
                     test::ebpfrun_binary() + "`.") != std::string::npos);
    CHECK(r.out.find("kernel features") != std::string::npos);
    CHECK(r.out.find("2 blocking problems") != std::string::npos);
  }
  SECTION("CAP_BPF and CAP_PERFMON: runs, and does not blame the kernel for CAP_NET_ADMIN") {
    auto r = test::run({setpriv, "--bounding-set=-all,+bpf,+perfmon", test::ebpfrun_binary(), "doctor", "--json"});
    INFO(r.out << r.err);
    CHECK(r.exit_code == 0);
    CHECK(r.out.find(R"({"check":"CAP_BPF","status":"ok")") != std::string::npos);
    CHECK(r.out.find(R"({"check":"CAP_SYS_ADMIN","status":"warning")") != std::string::npos);
    CHECK(r.out.find(R"({"check":"prog tracepoint","status":"ok")") != std::string::npos);
    CHECK(r.out.find(R"({"check":"map ringbuf","status":"ok")") != std::string::npos);
    CHECK(r.out.find(R"({"check":"prog xdp","status":"warning","blocking":false,"detail":"not probed: the kernel )"
                     R"(allows xdp programs only for processes with CAP_NET_ADMIN, which this one lacks."})") !=
          std::string::npos);
    CHECK(r.out.find(R"({"check":"bpf_stats","status":"warning")") != std::string::npos);
  }
}

// In a private mount namespace (unshare -m), with tracefs and bpffs unmounted:
// plain doctor only reports, --fix mounts them.
TEST_CASE("ebpfrun doctor reports a missing tracefs and --fix mounts it", "[system][doctor][root]") {
  if (!test::have_root()) return;
  const std::string unshare = "/usr/bin/unshare";
  if (::access(unshare.c_str(), X_OK) != 0) {
    WARN("skipped: needs unshare (util-linux) for a private mount namespace");
    return;
  }
  const std::string exe = test::ebpfrun_binary();
  const std::string script = "umount -l /sys/kernel/tracing; umount -l /sys/fs/bpf; " + exe +
                             " doctor --json; echo \"exit=$?\"; " + exe +
                             " doctor --fix --json; echo \"exit=$?\"; grep -c -E ' (tracefs|bpf) ' /proc/self/mounts";
  auto r = test::run({unshare, "--mount", "--propagation", "private", "/bin/sh", "-c", script});
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  auto lines = lines_of(r.out);
  // First run: report only, not blocking for root (a run would mount it).
  CHECK(r.out.find(R"({"check":"tracefs","status":"warning","blocking":false,"detail":"tracefs is not mounted at )"
                   R"(/sys/kernel/tracing; ebpfrun mounts it when a script starts, or run `mount -t tracefs tracefs )"
                   R"(/sys/kernel/tracing` (or `ebpfrun doctor --fix`) now."})") != std::string::npos);
  CHECK(r.out.find(R"({"check":"bpffs","status":"warning")") != std::string::npos);
  // Second run: fixed.
  CHECK(r.out.find(R"({"check":"tracefs","status":"fixed","blocking":false,"detail":"tracefs was not mounted; )"
                   R"(ebpfrun mounted it at /sys/kernel/tracing."})") != std::string::npos);
  CHECK(r.out.find(R"({"check":"bpffs","status":"fixed")") != std::string::npos);
  CHECK(r.err.find("ebpfrun: warning: mounted tracefs at /sys/kernel/tracing because it was not mounted") !=
        std::string::npos);
  size_t exits = 0;
  for (const auto& line : lines)
    if (line.rfind("exit=", 0) == 0) {
      CHECK(line == "exit=0");
      ++exits;
    }
  CHECK(exits == 2);
  CHECK(lines.back() == "2");  // tracefs and bpffs are mounted again in that namespace
}

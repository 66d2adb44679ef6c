// Unit tests for the pure parts of runtime/system: capability masks, mount
// tables, kernel releases, and how checks are printed. Nothing here touches
// the kernel beyond reading files.
#include <catch2/catch.hpp>

#include <algorithm>

#include "support/test_support.h"
#include "system/capabilities.h"
#include "system/check.h"
#include "system/kernel.h"
#include "system/mounts.h"

using namespace ebpfrun;
using namespace ebpfrun::system;

namespace {

const Check& find(const std::vector<Check>& checks, const std::string& name) {
  auto it = std::find_if(checks.begin(), checks.end(), [&](const Check& c) { return c.name == name; });
  REQUIRE(it != checks.end());
  return *it;
}

Capabilities caps_from(const std::string& hex) {
  auto caps = parse_cap_hex(hex);
  INFO(hex);
  REQUIRE(caps);
  return *caps;
}

constexpr const char* kExe = "/usr/bin/ebpfrun";

}  // namespace

TEST_CASE("a full CapEff mask grants everything BPF needs", "[system][caps]") {
  auto caps = caps_from("000001ffffffffff");
  CHECK(caps.effective == 0x1ffffffffffULL);
  CHECK(caps.has(kCapBpf));
  CHECK(caps.has(kCapPerfmon));
  CHECK(caps.has(kCapSysAdmin));
  CHECK(caps.has(kCapNetAdmin));
  CHECK(caps.can_bpf());
  CHECK(caps.can_trace());
  CHECK(caps.can_admin());
  auto checks = check_capabilities(caps, kExe);
  REQUIRE(checks.size() == 4);
  for (const auto& c : checks) {
    INFO(c.name << ": " << c.detail);
    CHECK(c.status == CheckStatus::ok);
  }
  CHECK_FALSE(has_blocking_failure(checks));
}

TEST_CASE("an empty CapEff mask blocks with the setcap command", "[system][caps]") {
  auto caps = caps_from("0000000000000000");
  CHECK_FALSE(caps.can_bpf());
  CHECK_FALSE(caps.can_trace());
  auto checks = check_capabilities(caps, kExe);
  const auto& bpf = find(checks, "CAP_BPF");
  CHECK(bpf.status == CheckStatus::failed);
  CHECK(is_blocking_failure(bpf));
  CHECK(bpf.detail ==
        "CAP_BPF is missing, so no BPF program or map can be created: run as root or grant it with "
        "`setcap cap_bpf,cap_perfmon+ep /usr/bin/ebpfrun`.");
  const auto& perfmon = find(checks, "CAP_PERFMON");
  CHECK(perfmon.status == CheckStatus::failed);
  CHECK(is_blocking_failure(perfmon));
  CHECK(perfmon.detail.find("`setcap cap_bpf,cap_perfmon+ep /usr/bin/ebpfrun`") != std::string::npos);
  CHECK(find(checks, "CAP_SYS_ADMIN").status == CheckStatus::warning);
  CHECK(find(checks, "CAP_NET_ADMIN").status == CheckStatus::warning);
  CHECK(find(checks, "CAP_NET_ADMIN").detail.find("cap_bpf,cap_perfmon,cap_net_admin+ep /usr/bin/ebpfrun") !=
        std::string::npos);
  CHECK(has_blocking_failure(checks));
}

TEST_CASE("CAP_BPF plus CAP_PERFMON alone is enough to run", "[system][caps]") {
  // Bits 38 and 39: 0xc0'0000'0000.
  auto caps = caps_from("000000c000000000");
  CHECK(caps.has(kCapBpf));
  CHECK(caps.has(kCapPerfmon));
  CHECK_FALSE(caps.has(kCapSysAdmin));
  CHECK_FALSE(caps.has(kCapNetAdmin));
  CHECK(caps.can_trace());
  CHECK_FALSE(caps.can_admin());
  auto checks = check_capabilities(caps, kExe);
  CHECK(find(checks, "CAP_BPF").status == CheckStatus::ok);
  CHECK(find(checks, "CAP_PERFMON").status == CheckStatus::ok);
  CHECK(find(checks, "CAP_SYS_ADMIN").status == CheckStatus::warning);
  CHECK(find(checks, "CAP_SYS_ADMIN").detail.find("--stats") != std::string::npos);
  CHECK(find(checks, "CAP_NET_ADMIN").status == CheckStatus::warning);
  CHECK_FALSE(has_blocking_failure(checks));
}

TEST_CASE("CAP_SYS_ADMIN alone stands in for CAP_BPF and CAP_PERFMON", "[system][caps]") {
  auto caps = caps_from("0000000000200000");  // bit 21
  CHECK(caps.can_bpf());
  CHECK(caps.can_trace());
  auto checks = check_capabilities(caps, kExe);
  CHECK(find(checks, "CAP_BPF").status == CheckStatus::ok);
  CHECK(find(checks, "CAP_BPF").detail.find("CAP_SYS_ADMIN grants the same rights") != std::string::npos);
  CHECK(find(checks, "CAP_PERFMON").status == CheckStatus::ok);
  CHECK_FALSE(has_blocking_failure(checks));
}

TEST_CASE("CAP_BPF without CAP_PERFMON cannot trace", "[system][caps]") {
  auto caps = caps_from("8000000000");  // bit 39 only, short form
  CHECK(caps.can_bpf());
  CHECK_FALSE(caps.can_trace());
  auto checks = check_capabilities(caps, kExe);
  CHECK(find(checks, "CAP_BPF").status == CheckStatus::ok);
  CHECK(is_blocking_failure(find(checks, "CAP_PERFMON")));
}

TEST_CASE("CapEff is found in /proc status text, and bad masks are errors", "[system][caps]") {
  const std::string status =
      "Name:\tebpfrun\nUmask:\t0022\nCapInh:\t0000000000000000\nCapPrm:\t000001ffffffffff\n"
      "CapEff:\t000000c000000000\nCapBnd:\t000001ffffffffff\nCapAmb:\t0000000000000000\n";
  auto caps = parse_status_capabilities(status);
  REQUIRE(caps);
  CHECK(caps->effective == 0xc000000000ULL);

  auto none = parse_status_capabilities("Name:\tx\nCapPrm:\t0000000000000000\n");
  REQUIRE_FALSE(none);
  CHECK(none.error() == "the process status has no CapEff line; is /proc mounted?");
  CHECK_FALSE(parse_cap_hex(""));
  CHECK_FALSE(parse_cap_hex("00000000000000000"));  // 17 digits
  auto bad = parse_cap_hex("00000zz000000000");
  REQUIRE_FALSE(bad);
  CHECK(bad.error() == "cannot read the capability mask '00000zz000000000': 'z' is not a hexadecimal digit");
}

TEST_CASE("this process's capabilities come from /proc/self/status", "[system][caps]") {
  if (!test::have_root()) return;
  auto caps = current_capabilities();
  REQUIRE(caps);
  CHECK(caps->has(kCapSysAdmin));
  CHECK(caps->can_trace());
}

// --- mounts ------------------------------------------------------------------

namespace {

constexpr const char* kMountsBoth =
    "proc /proc proc rw,relatime 0 0\n"
    "sysfs /sys sysfs rw,relatime 0 0\n"
    "tracefs /sys/kernel/tracing tracefs rw,relatime 0 0\n"
    "bpf /sys/fs/bpf bpf rw,relatime 0 0\n";

constexpr const char* kMountsNeither =
    "proc /proc proc rw,relatime 0 0\n"
    "sysfs /sys sysfs rw,relatime 0 0\n"
    "none /sys/kernel/tracing tmpfs rw 0 0\n"  // right place, wrong file system
    "tracefs /mnt/my\\040tracing tracefs rw,relatime 0 0\n";

}  // namespace

TEST_CASE("mount lines are parsed with octal escapes decoded", "[system][mounts]") {
  auto mounts = parse_mounts(std::string(kMountsNeither) + "\n  \nshort line\n");
  REQUIRE(mounts.size() == 4);
  CHECK(mounts[2].source == "none");
  CHECK(mounts[2].target == "/sys/kernel/tracing");
  CHECK(mounts[2].fstype == "tmpfs");
  CHECK(mounts[3].target == "/mnt/my tracing");
  CHECK(mounts[3].fstype == "tracefs");
  CHECK(mounts[3].options == "rw,relatime");
}

TEST_CASE("tracefs and bpffs are found by type at the places libbpf looks", "[system][mounts]") {
  auto both = parse_mounts(kMountsBoth);
  CHECK(find_mount(both, tracefs_need()) == std::optional<std::string>("/sys/kernel/tracing"));
  CHECK(find_mount(both, bpffs_need()) == std::optional<std::string>("/sys/fs/bpf"));
  auto c = check_file_system(both, tracefs_need(), MountPolicy::report, false);
  CHECK(c.status == CheckStatus::ok);
  CHECK(c.detail == "tracefs is mounted at /sys/kernel/tracing.");
  CHECK(check_file_system(both, bpffs_need(), MountPolicy::report, false).detail == "bpffs is mounted at /sys/fs/bpf.");

  // tracefs under debugfs is where older systems have it; libbpf looks there first.
  auto debug = parse_mounts(
      "debugfs /sys/kernel/debug debugfs rw 0 0\n"
      "tracefs /sys/kernel/debug/tracing tracefs rw,relatime 0 0\n");
  CHECK(find_mount(debug, tracefs_need()) == std::optional<std::string>("/sys/kernel/debug/tracing"));
  CHECK_FALSE(find_mount(debug, bpffs_need()));

  auto neither = parse_mounts(kMountsNeither);
  CHECK_FALSE(find_mount(neither, tracefs_need()));
  CHECK_FALSE(find_mount(neither, bpffs_need()));
}

TEST_CASE("a missing tracefs or bpffs is reported with the exact mount command", "[system][mounts]") {
  auto neither = parse_mounts(kMountsNeither);

  // Unprivileged: nothing we can do; tracefs blocks, bpffs only warns.
  auto tracefs = check_file_system(neither, tracefs_need(), MountPolicy::mount_if_missing, false);
  CHECK(tracefs.status == CheckStatus::failed);
  CHECK(is_blocking_failure(tracefs));
  CHECK(tracefs.detail ==
        "tracefs is not mounted at /sys/kernel/tracing (it is mounted at /mnt/my tracing, where libbpf does not "
        "look), so tracepoints, kprobes and uprobes cannot be attached: ask an administrator to run "
        "`mount -t tracefs tracefs /sys/kernel/tracing`.");
  auto bpffs = check_file_system(neither, bpffs_need(), MountPolicy::mount_if_missing, false);
  CHECK(bpffs.status == CheckStatus::warning);
  CHECK_FALSE(is_blocking_failure(bpffs));
  CHECK(bpffs.detail ==
        "bpffs is not mounted at /sys/fs/bpf, so maps cannot be pinned: ask an administrator to run "
        "`mount -t bpf bpf /sys/fs/bpf`.");

  // Privileged but report-only (doctor): a run would mount it, so it does not block.
  auto report = check_file_system(neither, tracefs_need(), MountPolicy::report, true);
  CHECK(report.status == CheckStatus::warning);
  CHECK_FALSE(is_blocking_failure(report));
  CHECK(report.detail.find("ebpfrun mounts it when a script starts, or run `mount -t tracefs tracefs "
                           "/sys/kernel/tracing` (or `ebpfrun doctor --fix`) now.") != std::string::npos);
}

// --- kernel release and printing ---------------------------------------------

TEST_CASE("kernel releases are parsed", "[system][kernel]") {
  auto v = parse_kernel_release("6.18.44-fc-v595");
  REQUIRE(v);
  CHECK(v->major == 6);
  CHECK(v->minor == 18);
  CHECK(v->patch == 44);
  auto short_form = parse_kernel_release("5.4");
  REQUIRE(short_form);
  CHECK(short_form->major == 5);
  CHECK(short_form->minor == 4);
  CHECK(short_form->patch == 0);
  CHECK_FALSE(parse_kernel_release("linux"));
}

TEST_CASE("checks print as an aligned table and as JSON lines", "[system][report]") {
  std::vector<Check> checks = {
      make_check("CAP_BPF", CheckStatus::ok, "present."),
      make_check("tracefs", CheckStatus::fixed, "mounted."),
      make_check("btf", CheckStatus::failed, "no \"BTF\"\\here.", true),
  };
  CHECK(format_table(checks) ==
        "CHECK    STATUS  DETAIL\n"
        "CAP_BPF  ok      present.\n"
        "tracefs  fixed   mounted.\n"
        "btf      failed  no \"BTF\"\\here.\n");
  CHECK(to_json_line(checks[0]) == R"({"check":"CAP_BPF","status":"ok","blocking":false,"detail":"present."})");
  CHECK(to_json_line(checks[2]) == R"({"check":"btf","status":"failed","blocking":true,"detail":"no \"BTF\"\\here."})");
  CHECK(json_quote("a\nb\x01") == "\"a\\nb\\u0001\"");
  CHECK(has_blocking_failure(checks));
  checks[2].blocking = false;
  CHECK_FALSE(has_blocking_failure(checks));
}

// The table of what each feature needs (runtime/system/privileges.h), checked
// against capability sets built by hand. Which sets the kernel really accepts
// is measured by tests/faults/privileges.sh under setpriv; this pins the table
// and its sentences so that a change to one is a change to the other.
#include <catch2/catch.hpp>

#include <cerrno>
#include <string>

#include "system/privileges.h"

using namespace ebpfrun::system;

namespace {

Capabilities with(std::initializer_list<int> caps) {
  Capabilities c;
  for (int cap : caps) c.effective |= uint64_t{1} << cap;
  return c;
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("each feature names the capabilities it misses", "[system][privileges]") {
  const auto bp = with({kCapBpf, kCapPerfmon});
  CHECK(privilege_problem(Feature::raw_tracepoints, bp).empty());
  CHECK(privilege_problem(Feature::perf_events, bp).empty());
  CHECK(privilege_problem(Feature::ring_buffers, bp).empty());
  CHECK(privilege_problem(Feature::uprobes, bp) == "CAP_SYS_ADMIN is missing");
  CHECK(privilege_problem(Feature::stats, bp) == "CAP_SYS_ADMIN is missing");
  CHECK(privilege_problem(Feature::cgroup_programs, bp) == "CAP_NET_ADMIN is missing");
  CHECK(privilege_problem(Feature::socket_programs, bp) == "CAP_NET_ADMIN is missing");

  const auto bpf_only = with({kCapBpf});
  CHECK(privilege_problem(Feature::maps, bpf_only).empty());
  CHECK(privilege_problem(Feature::raw_tracepoints, bpf_only) == "CAP_PERFMON is missing");
  CHECK(privilege_problem(Feature::uprobes, with({})) == "CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN are missing");
}

TEST_CASE("CAP_SYS_ADMIN stands in for CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN", "[system][privileges]") {
  const auto admin = with({kCapSysAdmin});
  CHECK(privilege_problem(Feature::raw_tracepoints, admin).empty());
  CHECK(privilege_problem(Feature::uprobes, admin).empty());
  CHECK(privilege_problem(Feature::stats, admin).empty());
  // Measured: CAP_SYS_ADMIN alone loads socket programs too.
  CHECK(privilege_problem(Feature::socket_programs, admin).empty());
}

TEST_CASE("the capabilities the collectors need form a small mask", "[system][privileges]") {
  const uint64_t mask = required_capabilities({Feature::tracepoints, Feature::maps, Feature::ring_buffers});
  CHECK(mask == ((uint64_t{1} << kCapBpf) | (uint64_t{1} << kCapPerfmon)));
  CHECK((required_capabilities({Feature::uprobes}) >> kCapSysAdmin & 1) == 1);
}

TEST_CASE("doctor gets one line per feature and errors other than EPERM are not explained", "[system][privileges]") {
  auto checks = check_privileges(with({kCapBpf, kCapPerfmon}));
  CHECK(checks.size() == all_features().size());
  bool uprobes_named = false;
  for (const auto& c : checks)
    if (c.name == "may use uprobes")
      uprobes_named = c.status == CheckStatus::warning && contains(c.detail, "CAP_SYS_ADMIN is missing");
  CHECK(uprobes_named);
  CHECK(explain_refusal(Feature::uprobes, ENOENT).empty());
  CHECK(explain_refusal(Feature::uprobes, EINVAL).empty());
  CHECK(capability_name(kCapDacReadSearch) == "CAP_DAC_READ_SEARCH");
}

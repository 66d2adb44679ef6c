#include "system/privileges.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>

#include <fmt/format.h>

#include "system/mounts.h"

namespace ebpfrun::system {
namespace {

// CAP_SYS_ADMIN still grants what CAP_BPF and CAP_PERFMON grant (measured: a
// process with CAP_SYS_ADMIN alone loads and attaches tracing programs).
const CapabilityNeed kBpf{{kCapBpf, kCapSysAdmin}};
const CapabilityNeed kPerfmon{{kCapPerfmon, kCapSysAdmin}};
const CapabilityNeed kSysAdmin{{kCapSysAdmin}};
const CapabilityNeed kNetAdmin{{kCapNetAdmin, kCapSysAdmin}};

// A file-system permission a feature needs: `path` with `mode` (R_OK|X_OK or
// W_OK|X_OK) for the effective ids and capabilities.
struct FileNeed {
  std::string path;
  int mode = 0;
};

std::optional<std::string> mounted_at(std::string_view fstype, const std::vector<std::string>& preferred) {
  auto mounts = read_mounts();
  if (!mounts) return std::nullopt;
  for (const auto& want : preferred)
    for (const auto& m : *mounts)
      if (m.fstype == fstype && m.target == want) return m.target;
  if (preferred.empty())
    for (const auto& m : *mounts)
      if (m.fstype == fstype) return m.target;
  return std::nullopt;
}

std::optional<FileNeed> file_need(Feature feature) {
  switch (feature) {
    case Feature::tracepoints:
    case Feature::list_tracepoints:
      if (auto dir = mounted_at("tracefs", tracefs_need().targets)) return FileNeed{*dir, R_OK | X_OK};
      return std::nullopt;
    case Feature::pinning:
      if (auto dir = mounted_at("bpf", bpffs_need().targets)) return FileNeed{*dir, W_OK | X_OK};
      return std::nullopt;
    case Feature::traced_command:
      if (auto dir = mounted_at("cgroup2", {})) return FileNeed{*dir, W_OK | X_OK};
      return std::nullopt;
    default:
      return std::nullopt;
  }
}

// "" when the effective ids and capabilities allow `need`, else why not.
std::string file_problem(const FileNeed& need) {
  if (::faccessat(AT_FDCWD, need.path.c_str(), need.mode, AT_EACCESS) == 0) return "";
  int err = errno;
  if (err != EACCES && err != EPERM) return "";  // not a permission matter (not mounted, ...): reported elsewhere
  struct stat st {};
  std::string mode;
  if (::stat(need.path.c_str(), &st) == 0)
    mode = fmt::format(" (mode {:04o}, owner uid {})", st.st_mode & 07777, st.st_uid);
  const bool write = (need.mode & W_OK) != 0;
  return fmt::format("{} is not {} by this process{}: needs {} or running as its owner", need.path,
                     write ? "writable" : "readable", mode,
                     write ? "CAP_DAC_OVERRIDE" : "CAP_DAC_READ_SEARCH (or CAP_DAC_OVERRIDE)");
}

}  // namespace

std::string_view feature_name(Feature feature) {
  switch (feature) {
    case Feature::maps:
      return "maps";
    case Feature::ring_buffers:
      return "ring buffers";
    case Feature::pinning:
      return "pinning";
    case Feature::tracepoints:
      return "tracepoints";
    case Feature::raw_tracepoints:
      return "raw_tp/tp_btf";
    case Feature::uprobes:
      return "uprobes";
    case Feature::perf_events:
      return "perf_event sampling";
    case Feature::cgroup_programs:
      return "cgroup programs";
    case Feature::socket_programs:
      return "socket/XDP programs";
    case Feature::stats:
      return "--stats";
    case Feature::inspect:
      return "inspect by id";
    case Feature::traced_command:
      return "-c CMD";
    case Feature::list_tracepoints:
      return "-l (list)";
  }
  return "?";
}

const std::vector<Feature>& all_features() {
  static const std::vector<Feature> features{Feature::maps,
                                             Feature::ring_buffers,
                                             Feature::pinning,
                                             Feature::tracepoints,
                                             Feature::raw_tracepoints,
                                             Feature::uprobes,
                                             Feature::perf_events,
                                             Feature::cgroup_programs,
                                             Feature::socket_programs,
                                             Feature::stats,
                                             Feature::inspect,
                                             Feature::traced_command,
                                             Feature::list_tracepoints};
  return features;
}

std::vector<CapabilityNeed> capability_needs(Feature feature) {
  switch (feature) {
    case Feature::maps:
    case Feature::ring_buffers:
    case Feature::pinning:
      return {kBpf};
    case Feature::tracepoints:
    case Feature::raw_tracepoints:
    case Feature::perf_events:
      return {kBpf, kPerfmon};
    case Feature::uprobes:
      // Loading works with CAP_BPF + CAP_PERFMON; perf_event_open on the
      // uprobe PMU is refused (EACCES) without CAP_SYS_ADMIN.
      return {kBpf, kPerfmon, kSysAdmin};
    case Feature::cgroup_programs:
    case Feature::socket_programs:
      return {kBpf, kNetAdmin};
    case Feature::stats:
    case Feature::inspect:
      return {kSysAdmin};
    case Feature::traced_command:
    case Feature::list_tracepoints:
      return {};  // file access only
  }
  return {};
}

uint64_t required_capabilities(const std::vector<Feature>& features) {
  uint64_t mask = 0;
  for (Feature f : features) {
    for (const auto& need : capability_needs(f))
      if (!need.any_of.empty()) mask |= uint64_t{1} << need.any_of.front();
    // File access needs a capability only when the files are not ours; the
    // caller checks privilege_problem() after dropping.
  }
  return mask;
}

std::string capability_name(int cap) {
  switch (cap) {
    case kCapDacOverride:
      return "CAP_DAC_OVERRIDE";
    case kCapDacReadSearch:
      return "CAP_DAC_READ_SEARCH";
    case kCapNetAdmin:
      return "CAP_NET_ADMIN";
    case kCapSysAdmin:
      return "CAP_SYS_ADMIN";
    case kCapPerfmon:
      return "CAP_PERFMON";
    case kCapBpf:
      return "CAP_BPF";
  }
  return fmt::format("capability {}", cap);
}

std::string privilege_problem(Feature feature, const Capabilities& caps) {
  std::vector<std::string> missing;
  for (const auto& need : capability_needs(feature)) {
    bool met = false;
    for (int cap : need.any_of) met = met || caps.has(cap);
    if (!met) missing.push_back(capability_name(need.any_of.front()));
  }
  std::string problem;
  if (!missing.empty()) {
    for (size_t i = 0; i < missing.size(); ++i)
      problem += (i == 0 ? "" : i + 1 == missing.size() ? " and " : ", ") + missing[i];
    problem += missing.size() == 1 ? " is missing" : " are missing";
  }
  if (auto need = file_need(feature))
    if (std::string files = file_problem(*need); !files.empty()) problem += (problem.empty() ? "" : "; ") + files;
  // -c without a cgroup2 mount makes a private one, which needs CAP_SYS_ADMIN.
  if (feature == Feature::traced_command && !mounted_at("cgroup2", {}) && !caps.has(kCapSysAdmin))
    problem += std::string(problem.empty() ? "" : "; ") +
               "no cgroup2 is mounted and mounting a private one needs CAP_SYS_ADMIN";
  return problem;
}

std::string explain_refusal(Feature feature, int err) {
  if (err != EPERM && err != EACCES) return "";
  auto caps = current_capabilities();
  if (!caps) return "";
  if (std::string problem = privilege_problem(feature, *caps); !problem.empty())
    return fmt::format("not permitted for {}: {}", feature_name(feature), problem);
  std::string present;
  for (const auto& need : capability_needs(feature))
    for (int cap : need.any_of)
      if (caps->has(cap)) {
        present += (present.empty() ? "" : ", ") + capability_name(cap);
        break;
      }
  return fmt::format(
      "the kernel refused {} ({}) although {}; a security module (SELinux, AppArmor, lockdown) or a sysctl "
      "(kernel.perf_event_paranoid, kernel.unprivileged_bpf_disabled) may forbid it",
      feature_name(feature), std::strerror(err),
      present.empty() ? "no capability or file permission seems missing"
                      : fmt::format("{} {} effective", present, present.find(',') == std::string::npos ? "is" : "are"));
}

std::vector<Check> check_privileges(const Capabilities& caps) {
  std::vector<Check> checks;
  for (Feature f : all_features()) {
    std::string problem = privilege_problem(f, caps);
    std::string name = fmt::format("{}{}", kPrivilegeCheckPrefix, feature_name(f));
    if (problem.empty())
      checks.push_back(make_check(name, CheckStatus::ok, fmt::format("{}: allowed.", feature_name(f))));
    else
      checks.push_back(
          make_check(name, CheckStatus::warning, fmt::format("{}: not allowed: {}.", feature_name(f), problem)));
  }
  return checks;
}

}  // namespace ebpfrun::system

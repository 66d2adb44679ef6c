#include "system/preflight.h"

#include <fmt/format.h>

#include "system/capabilities.h"
#include "system/internal/features.h"
#include "system/kernel.h"
#include "system/privileges.h"
#include "system/stats.h"

namespace ebpfrun::system {

std::vector<Check> run_preflight(const PreflightOptions& options) {
  std::vector<Check> checks;
  checks.push_back(check_kernel_version());

  auto caps = current_capabilities();
  if (caps) {
    const std::string executable = options.executable.empty() ? current_executable() : options.executable;
    for (auto& c : check_capabilities(*caps, executable)) checks.push_back(std::move(c));
  } else {
    checks.push_back(make_check("capabilities", CheckStatus::failed, caps.error() + ".", true));
  }
  const Capabilities effective = caps ? *caps : Capabilities{};
  if (options.probe_features) checks.push_back(check_unprivileged_bpf(effective));

  checks.push_back(check_btf(options.btf_path, options.probe_features));

  std::string tracefs_dir;
  auto mounts = read_mounts();
  if (mounts) {
    for (const FileSystemNeed* need : {&tracefs_need(), &bpffs_need()}) {
      Check c = check_file_system(*mounts, *need, options.mounts, effective.can_admin());
      // Mounted is not enough: tracefs is mode 0700 root, and a process with
      // CAP_BPF and CAP_PERFMON but not CAP_DAC_READ_SEARCH cannot read it.
      if (need == &tracefs_need() && c.status == CheckStatus::ok)
        if (std::string problem = privilege_problem(Feature::list_tracepoints, effective); !problem.empty())
          c = make_check(c.name, CheckStatus::warning,
                         fmt::format("{} but {}, so tracepoint/ probes and -l fail (raw_tp and tp_btf work).",
                                     c.detail.substr(0, c.detail.size() - 1), problem));
      if (need == &tracefs_need()) {
        if (auto where = find_mount(*mounts, *need))
          tracefs_dir = *where;
        else if (c.status == CheckStatus::fixed)
          tracefs_dir = need->targets.front();
      }
      checks.push_back(std::move(c));
    }
  } else {
    checks.push_back(make_check("tracefs", CheckStatus::failed, mounts.error() + ".", true));
    checks.push_back(make_check("bpffs", CheckStatus::warning, mounts.error() + "."));
  }

  checks.push_back(check_kprobes(tracefs_dir));
  checks.push_back(check_uprobes(tracefs_dir));

  if (options.probe_features) {
    checks.push_back(check_bpf_stats(effective));
    for (auto& c : check_privileges(effective)) checks.push_back(std::move(c));
    for (auto& c : check_kernel_features(effective)) checks.push_back(std::move(c));
  }
  return checks;
}

Result<std::vector<Check>> preflight_for_run(const PreflightOptions& options) {
  PreflightOptions run_options = options;
  run_options.probe_features = false;
  auto checks = run_preflight(run_options);
  for (const auto& c : checks)
    if (is_blocking_failure(c))
      // Missing capabilities are a matter of privilege; every other blocking
      // check (kernel version, BTF, tracefs) is something this kernel lacks.
      return make_error(
          c.name == "capabilities" || c.name.starts_with("CAP_") ? ErrorKind::permission : ErrorKind::not_supported,
          fmt::format("{} (`ebpfrun doctor` lists every check.)", c.detail));
  return checks;
}

}  // namespace ebpfrun::system

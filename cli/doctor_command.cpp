// `ebpfrun doctor`: checks whether this machine can run BPF probes and says
// what to fix. It runs the full preflight (capabilities, tracefs/bpffs, BTF,
// and what the kernel's BPF supports) and prints one line per check. It only
// reports: a missing tracefs or bpffs is mounted only with --fix (a normal run
// mounts them itself). Per feature it says whether this process's privileges
// allow it (tracepoints, raw_tp/tp_btf, uprobes, perf_event, ring buffers,
// cgroup and socket programs, --stats, -c, pinning, -l) and names what is
// missing. Exit 0 when nothing blocking failed, 1 otherwise.
#include <cstdio>
#include <string_view>

#include <fmt/format.h>

#include "cli/commands.h"
#include "common/libbpf_log.h"
#include "loader/object.h"
#include "system/preflight.h"
#include "system/privileges.h"

namespace ebpfrun::cli {

void register_doctor(CLI::App& app, const GlobalFlags& global) {
  auto* command = app.add_subcommand("doctor",
                                     "check whether this machine can run BPF probes and say what to fix "
                                     "(capabilities, tracefs/bpffs, BTF, kernel BPF features)");
  struct Flags {
    bool json = false;
    bool fix = false;
  };
  auto flags = std::make_shared<Flags>();
  command->add_flag("--json", flags->json, "print one JSON object per check (JSON lines) instead of a table");
  command->add_flag("--fix", flags->fix, "mount tracefs and bpffs if they are missing (needs root)");
  command->callback([flags, &global] {
    log::route_libbpf_messages();  // feature probes may make libbpf talk; keep it behind -v
    system::PreflightOptions options;
    options.mounts = flags->fix ? system::MountPolicy::mount_if_missing : system::MountPolicy::report;
    options.probe_features = true;
    options.btf_path = global.btf_path;
    auto checks = system::run_preflight(options);
    if (flags->json) {
      for (const auto& c : checks) fmt::print("{}\n", system::to_json_line(c));
    } else {
      fmt::print("{}", system::format_table(checks));
      size_t blocking = 0, warnings = 0;
      for (const auto& c : checks) {
        if (system::is_blocking_failure(c)) ++blocking;
        if (c.status == system::CheckStatus::warning || (c.status == system::CheckStatus::failed && !c.blocking))
          ++warnings;
      }
      // "Ready" alone would hide that, say, tracepoints fail with these
      // privileges: name the features they do not allow.
      std::string not_allowed;
      for (const auto& c : checks)
        if (c.name.rfind(system::kPrivilegeCheckPrefix, 0) == 0 && c.status != system::CheckStatus::ok)
          not_allowed += (not_allowed.empty() ? "" : ", ") + c.name.substr(system::kPrivilegeCheckPrefix.size());
      if (blocking)
        fmt::print("\n{} blocking problem{}: ebpfrun cannot run probes until {} fixed.\n", blocking,
                   blocking == 1 ? "" : "s", blocking == 1 ? "it is" : "they are");
      else
        fmt::print("\nready: nothing blocking{}.\n", warnings ? fmt::format("; {} warning{} limit what scripts can use",
                                                                            warnings, warnings == 1 ? "" : "s")
                                                              : "");
      if (!not_allowed.empty()) fmt::print("not allowed with this process's privileges: {}.\n", not_allowed);
    }
    std::fflush(stdout);
    if (system::has_blocking_failure(checks)) throw CLI::RuntimeError(kExitRuntimeError);
  });
}

}  // namespace ebpfrun::cli

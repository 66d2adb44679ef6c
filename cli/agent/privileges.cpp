#include "cli/agent/privileges.h"

#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "system/capabilities.h"
#include "system/privileges.h"

namespace ebpfrun::cli::agent {
namespace {

bool kept(int cap) {
  for (int k : kKeptCapabilities)
    if (k == cap) return true;
  return false;
}

int last_capability() {
  // /proc/sys/kernel/cap_last_cap is the kernel's own; 40 (CAP_CHECKPOINT_RESTORE) is the floor.
  int last = 40;
  if (FILE* f = std::fopen("/proc/sys/kernel/cap_last_cap", "r")) {
    if (std::fscanf(f, "%d", &last) != 1) last = 40;
    std::fclose(f);
  }
  return last;
}

}  // namespace

Status check_agent_capabilities() {
  auto caps = system::current_capabilities();
  if (!caps) return std::move(caps).take_error();
  std::string exe = system::current_executable();
  if (!caps->can_bpf())
    return make_error(
        fmt::format("the agent needs CAP_BPF to load its collectors (grant it: setcap "
                    "cap_bpf,cap_perfmon+ep {}, or AmbientCapabilities= in the unit)",
                    exe));
  if (!caps->can_trace())
    return make_error(
        fmt::format("the agent needs CAP_PERFMON to attach tracing programs (grant it: setcap "
                    "cap_bpf,cap_perfmon+ep {}, or AmbientCapabilities= in the unit)",
                    exe));
  // Every shipped collector but the scheduler attaches tracepoints, whose ids
  // are read from tracefs (mode 0700 on most systems).
  if (std::string problem = system::privilege_problem(system::Feature::tracepoints, *caps); !problem.empty())
    return make_error(ErrorKind::permission,
                      fmt::format("the agent cannot attach tracepoints: {} (grant it: setcap "
                                  "cap_bpf,cap_perfmon,cap_dac_read_search+ep {}, or AmbientCapabilities= in the unit)",
                                  problem, exe));
  return ok_status();
}

Result<std::string> drop_capabilities() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  if (::syscall(SYS_capget, &header, data) != 0) return make_error(fmt::format("capget: {}", std::strerror(errno)));
  std::string dropped;
  int last = last_capability();
  // The bounding set first: dropping from it needs CAP_SETPCAP, which goes next.
  for (int cap = 0; cap <= last; ++cap) {
    if (kept(cap)) continue;
    if (::prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1) (void)::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
  }
  (void)::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  for (int cap = 0; cap < 64; ++cap) {
    uint32_t bit = 1u << (cap % 32);
    auto& word = data[cap / 32];
    bool had = (word.permitted & bit) != 0;
    if (kept(cap)) continue;
    word.effective &= ~bit;
    word.permitted &= ~bit;
    word.inheritable &= ~bit;
    if (had) dropped += fmt::format("{}{}", dropped.empty() ? "" : ",", cap);
  }
  if (::syscall(SYS_capset, &header, data) != 0) return make_error(fmt::format("capset: {}", std::strerror(errno)));
  return dropped;
}

}  // namespace ebpfrun::cli::agent

// runtime/system — what each ebpfrun feature needs from the process's
// privileges, and why the kernel refused one.
//
// "Needs root (or CAP_BPF and CAP_PERFMON)" is wrong as often as it is right:
// which capability a BPF operation needs depends on the program type, the
// attach method and the permissions of the file systems involved. The table
// in privileges.cpp was measured on Linux 6.18 by running every operation as
// an unprivileged user with each reduced capability set (see
// tests/faults/privileges.sh). In short:
//
//   maps, ring buffers, pinning in /sys/fs/bpf    CAP_BPF
//   raw_tp, tp_btf, perf_event sampling           CAP_BPF + CAP_PERFMON
//   tracepoints, -l                               CAP_BPF + CAP_PERFMON, and read access to tracefs
//                                                 (mode 0700 root: CAP_DAC_READ_SEARCH unless root)
//   uprobes                                       CAP_BPF + CAP_PERFMON + CAP_SYS_ADMIN (the uprobe PMU)
//   cgroup programs (attach), sockops, sk_msg, XDP CAP_BPF + CAP_NET_ADMIN
//   --stats, inspecting programs by id            CAP_SYS_ADMIN
//   -c CMD                                        write access to the cgroup2 root
//                                                 (CAP_DAC_OVERRIDE unless root or delegated)
//
// CAP_SYS_ADMIN also grants what CAP_BPF and CAP_PERFMON grant, but never file
// access. File access is checked with faccessat(AT_EACCESS) against the real
// path, so ownership, delegation and mount modes are taken into account.
//
// Used by `ebpfrun doctor` (one line per feature), by the attach, stats and -c
// error paths (to name what is missing when the kernel says EPERM/EACCES),
// and by anything that wants to drop privileges it does not need (the agent
// drops to required_capabilities() of the features it uses after attaching).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "system/capabilities.h"
#include "system/check.h"

namespace ebpfrun::system {

inline constexpr int kCapDacOverride = 1;
inline constexpr int kCapDacReadSearch = 2;

enum class Feature {
  maps,              // create hash/array/... maps
  ring_buffers,      // BPF ring buffers (create + mmap)
  pinning,           // pin maps in /sys/fs/bpf
  tracepoints,       // tracepoint/CAT/NAME (perf event + tracefs id)
  raw_tracepoints,   // raw_tp/NAME and tp_btf/NAME
  uprobes,           // uprobe/ and uretprobe/ (the uprobe PMU)
  perf_events,       // perf_event/ sampling programs
  cgroup_programs,   // cgroup_skb/sock/... attached to a cgroup
  socket_programs,   // sockops, sk_msg, sockhash, XDP, TC
  stats,             // --stats (BPF_ENABLE_STATS)
  inspect,           // reading BPF programs/maps/links by id (bpftool-like listings)
  traced_command,    // -c CMD (a cgroup under the cgroup2 root)
  list_tracepoints,  // -l (reading tracefs)
};

std::string_view feature_name(Feature feature);  // "tracepoints", "-c CMD", ...
const std::vector<Feature>& all_features();

// The capabilities `feature` needs (each entry: any one of the listed
// capabilities will do), not counting file access.
struct CapabilityNeed {
  std::vector<int> any_of;
};
std::vector<CapabilityNeed> capability_needs(Feature feature);

// Every capability the features need, as a bit mask (bit n = capability n),
// picking the first alternative of each need: what a process that uses only
// these features may keep.
uint64_t required_capabilities(const std::vector<Feature>& features);

std::string capability_name(int cap);  // "CAP_BPF", or "capability 45"

// What stops this process from using `feature`: "" when nothing does, else a
// clause such as "CAP_SYS_ADMIN is missing" or "/sys/kernel/tracing is not
// readable (mode 0700, owner uid 0): needs CAP_DAC_READ_SEARCH or root".
std::string privilege_problem(Feature feature, const Capabilities& caps);

// For an operation of `feature` that failed with `err`: when err is EPERM or
// EACCES, a clause naming what is missing (from privilege_problem with the
// current effective set), or — when nothing seems missing — saying the kernel
// refused although the needed capabilities are present. Empty for other errors.
std::string explain_refusal(Feature feature, int err);

// One doctor check per feature, named kPrivilegeCheckPrefix + feature_name():
// "allowed" or what is missing.
inline constexpr std::string_view kPrivilegeCheckPrefix = "may use ";
std::vector<Check> check_privileges(const Capabilities& caps);

}  // namespace ebpfrun::system

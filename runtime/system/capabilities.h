// runtime/system — the process's effective capabilities, as BPF sees them.
//
// Read from the CapEff line of /proc/self/status, so there is no libcap
// dependency. Since Linux 5.8 loading BPF needs CAP_BPF, tracing needs
// CAP_PERFMON as well, and networking programs need CAP_NET_ADMIN; CAP_SYS_ADMIN
// still grants everything CAP_BPF and CAP_PERFMON do (and is the only thing
// older kernels check), so a process with CAP_SYS_ADMIN alone is fine.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "system/check.h"

namespace ebpfrun::system {

inline constexpr int kCapNetAdmin = 12;
inline constexpr int kCapSysAdmin = 21;
inline constexpr int kCapPerfmon = 38;
inline constexpr int kCapBpf = 39;

struct Capabilities {
  uint64_t effective = 0;  // bit n set = capability n is effective

  bool has(int cap) const { return cap >= 0 && cap < 64 && ((effective >> cap) & 1u) != 0; }
  // May load BPF programs and create maps.
  bool can_bpf() const { return has(kCapBpf) || has(kCapSysAdmin); }
  // May load and attach tracing programs (kprobe/tracepoint/perf_event, bpf_probe_read*).
  bool can_trace() const { return can_bpf() && (has(kCapPerfmon) || has(kCapSysAdmin)); }
  // May mount file systems, enable BPF run-time stats and open BPF objects by id.
  bool can_admin() const { return has(kCapSysAdmin); }
};

// Parses the hexadecimal CapEff value, e.g. "000001ffffffffff".
Result<Capabilities> parse_cap_hex(std::string_view hex);
// Finds the CapEff line in /proc/<pid>/status text and parses it.
Result<Capabilities> parse_status_capabilities(std::string_view status_text);
// This process's effective capabilities.
Result<Capabilities> current_capabilities();

// One check per capability that matters: CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN,
// CAP_NET_ADMIN. `executable` goes into the setcap command the checks suggest.
std::vector<Check> check_capabilities(const Capabilities& caps, const std::string& executable);

// The path of the running executable (for the setcap hint), or "ebpfrun".
std::string current_executable();

}  // namespace ebpfrun::system

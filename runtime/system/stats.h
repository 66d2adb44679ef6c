// runtime/system — BPF run-time statistics (run_cnt, run_time_ns per program).
//
// The kernel only counts program runs while statistics are enabled, because
// counting costs a few nanoseconds per run. The BPF_ENABLE_STATS command turns
// them on and returns an fd; they stay on (system-wide) until the fd is
// closed, so a crashed run cannot leave them on. StatsSession holds that fd for
// the life of a run started with --stats.
#pragma once

#include "common/result.h"
#include "system/capabilities.h"
#include "system/check.h"

namespace ebpfrun::system {

class StatsSession {
 public:
  // Enables BPF_STATS_RUN_TIME; fails with a clear message when not permitted
  // (needs CAP_SYS_ADMIN) or when the kernel is older than 5.8.
  static Result<StatsSession> enable();

  StatsSession(StatsSession&& other) noexcept;
  StatsSession& operator=(StatsSession&& other) noexcept;
  StatsSession(const StatsSession&) = delete;
  StatsSession& operator=(const StatsSession&) = delete;
  ~StatsSession();

  bool active() const { return fd_ >= 0; }
  // Turns this session's hold on the statistics off (they stay on while any
  // other holder, or the kernel.bpf_stats_enabled sysctl, keeps them on).
  void close();

 private:
  explicit StatsSession(int fd) : fd_(fd) {}
  int fd_ = -1;
};

// True while kernel.bpf_stats_enabled is set. It does not see fd holders such
// as a StatsSession: the kernel keeps no readable count of those.
bool stats_sysctl_enabled();

// "bpf_stats": whether run-time statistics can be enabled (tries it briefly).
Check check_bpf_stats(const Capabilities& caps);

}  // namespace ebpfrun::system

#include "system/stats.h"

#include <bpf/bpf.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include <fmt/format.h>

#include "common/files.h"
#include "common/log.h"

namespace ebpfrun::system {
namespace {

constexpr const char* kSysctl = "/proc/sys/kernel/bpf_stats_enabled";

std::string explain_enable_failure(int err) {
  if (err == EPERM || err == EACCES)
    return "cannot enable BPF run-time statistics: BPF_ENABLE_STATS needs CAP_SYS_ADMIN; run as root, or leave out "
           "--stats.";
  if (err == EINVAL)
    return "cannot enable BPF run-time statistics: this kernel does not know BPF_ENABLE_STATS (it needs Linux 5.8); "
           "run `sysctl -w kernel.bpf_stats_enabled=1` instead, or leave out --stats.";
  return fmt::format("cannot enable BPF run-time statistics: BPF_ENABLE_STATS failed with {}; leave out --stats.",
                     std::strerror(err));
}

}  // namespace

Result<StatsSession> StatsSession::enable() {
  int fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
  if (fd < 0) {
    int err = errno;
    return make_error(err == EINVAL ? ErrorKind::not_supported : error_kind_from_errno(err),
                      explain_enable_failure(err), err);
  }
  log::debug("BPF run-time statistics enabled (fd {})", fd);
  return StatsSession(fd);
}

StatsSession::StatsSession(StatsSession&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

StatsSession& StatsSession::operator=(StatsSession&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

StatsSession::~StatsSession() { close(); }

void StatsSession::close() {
  if (fd_ < 0) return;
  ::close(fd_);
  fd_ = -1;
  log::debug("BPF run-time statistics released");
}

bool stats_sysctl_enabled() {
  auto text = files::read(kSysctl);
  return text && !text->empty() && (*text)[0] == '1';
}

Check check_bpf_stats(const Capabilities& caps) {
  const bool sysctl_on = stats_sysctl_enabled();
  if (!caps.can_admin()) {
    if (sysctl_on)
      return make_check("bpf_stats", CheckStatus::ok,
                        "BPF run-time statistics are on system-wide (kernel.bpf_stats_enabled = 1).");
    return make_check("bpf_stats", CheckStatus::warning,
                      "--stats needs CAP_SYS_ADMIN to enable BPF run-time statistics (BPF_ENABLE_STATS): run as root "
                      "for run_cnt and run_time_ns.");
  }
  int fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
  if (fd < 0) return make_check("bpf_stats", CheckStatus::warning, explain_enable_failure(errno));
  ::close(fd);
  return make_check("bpf_stats", CheckStatus::ok,
                    fmt::format("BPF run-time statistics can be enabled with --stats (kernel.bpf_stats_enabled = {}).",
                                sysctl_on ? 1 : 0));
}

}  // namespace ebpfrun::system

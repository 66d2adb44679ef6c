// TimerFd: a timerfd on CLOCK_MONOTONIC, for the event loop's periodic ticks
// ("every 1 s, print the histogram") and its one-shot deadline ("run for 10 s").
//
// A timerfd counts expirations while nobody reads it, so a consumer that was
// busy for three periods learns that three ticks passed instead of silently
// losing two; and it never drifts, because the kernel re-arms it.
#pragma once

#include <chrono>
#include <cstdint>

#include "common/result.h"
#include "events/unique_fd.h"

namespace ebpfrun::events {

class TimerFd {
 public:
  static Result<TimerFd> create();

  // Fires after `first`, then every `interval` (zero: once). A zero `first`
  // disarms the timer. Re-arming discards expirations not yet read.
  Status arm(std::chrono::nanoseconds first, std::chrono::nanoseconds interval);
  Status disarm() { return arm({}, {}); }
  // Expirations since the last read; 0 when none (never blocks).
  uint64_t read_expirations();

  int fd() const { return fd_.get(); }
  bool armed() const { return armed_; }

 private:
  explicit TimerFd(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
  bool armed_ = false;
};

}  // namespace ebpfrun::events

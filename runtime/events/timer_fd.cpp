#include "events/internal/timer_fd.h"

#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace ebpfrun::events {
namespace {

timespec to_timespec(std::chrono::nanoseconds d) {
  const auto secs = std::chrono::duration_cast<std::chrono::seconds>(d);
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(secs.count());
  ts.tv_nsec = static_cast<long>((d - secs).count());
  return ts;
}

}  // namespace

Result<TimerFd> TimerFd::create() {
  int fd = ::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    return make_errno_error(err, fmt::format("cannot create a timer (timerfd_create): {}.", std::strerror(err)));
  }
  return TimerFd(UniqueFd(fd));
}

Status TimerFd::arm(std::chrono::nanoseconds first, std::chrono::nanoseconds interval) {
  if (first.count() < 0 || interval.count() < 0)
    return make_error(ErrorKind::invalid_argument,
                      "a timer cannot be set to a negative duration; use a positive number of milliseconds.");
  itimerspec spec{};
  spec.it_value = to_timespec(first);
  spec.it_interval = to_timespec(interval);
  if (::timerfd_settime(fd_.get(), 0, &spec, nullptr) != 0) {
    int err = errno;
    return make_errno_error(err, fmt::format("cannot set a timer (timerfd_settime): {}.", std::strerror(err)));
  }
  // The kernel also resets the expiration count here, so ticks of an old
  // setting are never reported under the new one.
  armed_ = first.count() > 0;
  return ok_status();
}

uint64_t TimerFd::read_expirations() {
  uint64_t count = 0;
  if (::read(fd_.get(), &count, sizeof count) != static_cast<ssize_t>(sizeof count)) return 0;
  return count;
}

}  // namespace ebpfrun::events

#include "events/internal/signal_fd.h"

#include <pthread.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include <fmt/format.h>

#include "common/log.h"

namespace ebpfrun::events {

Result<SignalFd> SignalFd::block(const std::vector<int>& signals) {
  sigset_t wanted;
  sigemptyset(&wanted);
  for (int sig : signals) {
    if (sig == SIGKILL || sig == SIGSTOP || sigaddset(&wanted, sig) != 0)
      return make_error(ErrorKind::invalid_argument,
                        fmt::format("signal {} cannot be handled by the event loop; use catchable signals such as "
                                    "SIGINT and SIGTERM.",
                                    sig));
  }
  sigset_t previous;
  if (int err = pthread_sigmask(SIG_BLOCK, &wanted, &previous); err != 0)
    return make_errno_error(err, fmt::format("cannot block signals for the event loop: {}.", std::strerror(err)));

  SignalFd out;
  sigemptyset(&out.added_);
  for (int sig : signals)
    if (!sigismember(&previous, sig)) sigaddset(&out.added_, sig);
  out.active_ = true;  // from here on the destructor restores the mask

  int fd = ::signalfd(-1, &wanted, SFD_NONBLOCK | SFD_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    return make_errno_error(err, fmt::format("cannot create a signalfd for the event loop: {}.", std::strerror(err)));
  }
  out.fd_.reset(fd);
  return out;
}

SignalFd::SignalFd(SignalFd&& other) noexcept
    : fd_(std::move(other.fd_)), added_(other.added_), active_(std::exchange(other.active_, false)) {}

SignalFd& SignalFd::operator=(SignalFd&& other) noexcept {
  if (this != &other) {
    release();
    fd_ = std::move(other.fd_);
    added_ = other.added_;
    active_ = std::exchange(other.active_, false);
  }
  return *this;
}

SignalFd::~SignalFd() { release(); }

void SignalFd::release() {
  if (!active_) return;
  active_ = false;
  fd_.reset();
  // Take the signals that arrived unread, or unblocking would deliver them now.
  const timespec zero{};
  int sig;
  while ((sig = sigtimedwait(&added_, nullptr, &zero)) > 0)
    log::debug("discarding signal {} ({}) that arrived after the event loop stopped reading", sig, strsignal(sig));
  if (int err = pthread_sigmask(SIG_UNBLOCK, &added_, nullptr); err != 0)
    log::warn("cannot restore the signal mask after the event loop: {}", std::strerror(err));
}

int SignalFd::read_one() {
  signalfd_siginfo info{};
  ssize_t n = ::read(fd_.get(), &info, sizeof info);
  if (n != static_cast<ssize_t>(sizeof info)) return 0;
  return static_cast<int>(info.ssi_signo);
}

}  // namespace ebpfrun::events

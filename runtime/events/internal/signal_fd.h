// SignalFd: signals (SIGINT, SIGTERM) delivered as readable records on an fd.
//
// A Ctrl-C must stop a trace cleanly (detach, print the summary, exit non-zero
// only on error), which async signal handlers make hard: they may interrupt
// anything. Blocking the signals and reading them from a signalfd in the event
// loop turns them into ordinary events, handled between batches.
//
// Blocking is per thread: create the loop in the thread that runs it, before
// starting other threads (they inherit the mask), or a process-directed signal
// may go to a thread that does not block it and take its default action.
//
// On destruction the signals this object blocked are unblocked again, so the
// thread's mask is what it was before. Signals of those kinds that arrived but
// were never read are discarded first (and logged): the loop they were meant
// for is gone, and unblocking them would otherwise kill the process.
#pragma once

#include <signal.h>

#include <vector>

#include "common/result.h"
#include "events/unique_fd.h"

namespace ebpfrun::events {

class SignalFd {
 public:
  // Blocks `signals` in the calling thread and opens a signalfd for them.
  static Result<SignalFd> block(const std::vector<int>& signals);

  SignalFd(SignalFd&& other) noexcept;
  SignalFd& operator=(SignalFd&& other) noexcept;
  SignalFd(const SignalFd&) = delete;
  SignalFd& operator=(const SignalFd&) = delete;
  ~SignalFd();

  int fd() const { return fd_.get(); }
  // The next pending signal's number, or 0 when none is pending.
  int read_one();

 private:
  SignalFd() = default;
  void release();

  UniqueFd fd_;
  sigset_t added_{};  // the signals that were not blocked before and that we blocked
  bool active_ = false;
};

}  // namespace ebpfrun::events

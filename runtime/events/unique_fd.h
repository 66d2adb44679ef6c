// UniqueFd: one owned file descriptor, closed on destruction.
//
// The event component juggles many descriptors (epoll, timerfd, signalfd,
// eventfd, duplicated map fds); owning each in one small movable type keeps the
// RAII types above it default-movable and leak-free on every error path.
#pragma once

#include <unistd.h>

#include <utility>

namespace ebpfrun::events {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(std::exchange(other.fd_, -1));
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

}  // namespace ebpfrun::events

// `ebpfrun -c 'CMD'`: starts CMD held at a gate, in a cgroup v2 of its own, so
// that a cgroup filter matches CMD and every process it forks (children
// inherit their parent's cgroup). The gate opens when tracing starts, so no
// early event is missed. This kernel may have no cgroup v2 mounted (v1 at
// /sys/fs/cgroup); then a private cgroup2 mount is made and removed afterwards.
#pragma once

#include <cstdint>
#include <string>

#include "common/result.h"

namespace ebpfrun::cli {

class TracedCommand {
 public:
  static Result<TracedCommand> start(const std::string& command);
  TracedCommand(TracedCommand&& other) noexcept;
  TracedCommand& operator=(TracedCommand&&) = delete;
  TracedCommand(const TracedCommand&) = delete;
  ~TracedCommand();

  int pid() const { return pid_; }
  uint64_t cgroup_id() const { return cgroup_id_; }
  // Lets the command run (idempotent).
  void release();
  // True once the command has exited; reaps it.
  bool exited();
  int exit_status() const { return status_; }

 private:
  TracedCommand() = default;
  int pid_ = -1;
  int gate_fd_ = -1;
  uint64_t cgroup_id_ = 0;
  std::string cgroup_dir_;
  std::string mount_dir_;  // our private cgroup2 mount, if we made one
  bool reaped_ = false;
  int status_ = 0;
};

}  // namespace ebpfrun::cli

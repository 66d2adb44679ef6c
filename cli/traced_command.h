// `ebpfrun -c 'CMD'`: starts CMD held at a gate, in a cgroup v2 of its own, so
// that a cgroup filter matches CMD and every process it forks (children
// inherit their parent's cgroup). The gate opens when tracing starts, so no
// early event is missed. This kernel may have no cgroup v2 mounted (v1 at
// /sys/fs/cgroup); then a private cgroup2 mount is made under /tmp.
//
// What -c guarantees: CMD and everything it started end with the run, and the
// cgroup and the private mount are removed, however ebpfrun ends — normally,
// by any signal, SIGKILL included. The catchable signals are blocked while
// the cgroup is being set up; CMD gets PR_SET_PDEATHSIG (SIGKILL) so it dies
// with ebpfrun, and a guard process (command_cgroup.h) kills the rest of the
// cgroup (cgroup.kill) and removes it. Leftovers of a run whose guard was
// killed as well are removed at the next -c start.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "cli/command_cgroup.h"
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
  // The command's status as a shell reports it: its exit code, or 128+N when
  // signal N killed it. Meaningful once exited() is true.
  int exit_status() const { return status_; }

 private:
  TracedCommand() = default;
  int pid_ = -1;
  int gate_fd_ = -1;
  uint64_t cgroup_id_ = 0;
  std::string cgroup_dir_;
  std::optional<CgroupGuard> guard_;
  bool reaped_ = false;
  int status_ = 0;
};

}  // namespace ebpfrun::cli

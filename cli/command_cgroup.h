// The cgroup v2 that `ebpfrun -c CMD` runs CMD in, and the guard that removes
// it however ebpfrun ends.
//
// A run's cgroup (and, when no cgroup2 is mounted, its private cgroup2 mount
// under /tmp) is named after the ebpfrun process that made it: its pid and its
// start time (clock ticks since boot, /proc/PID/stat field 22). The pair is
// unique for the life of the machine, so a later run never takes a live run's
// cgroup, and a name whose owner no longer exists marks a leftover that any
// later run may remove.
//
// Cleanup must also happen when ebpfrun cannot run code any more (SIGKILL, an
// uncaught signal, a crash). So a guard process, forked before anything is
// created, holds the read end of a pipe whose only writer is ebpfrun. When the
// pipe closes (ebpfrun is done, or dead) the guard kills what is left in the
// cgroup (cgroup.kill), removes it and the private mount, and exits. The guard
// ignores the terminal's signals so that Ctrl-C cannot stop it halfway; only
// SIGKILL can, and what it leaves then is removed by the next run's start.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace ebpfrun::cli {

// A process as the names know it: a pid alone may be reused, pid + start time is not.
struct RunOwner {
  int pid = 0;
  uint64_t start_time = 0;
  bool operator==(const RunOwner&) const = default;
};

// The start time of `pid`, or nothing when it does not exist.
std::optional<uint64_t> process_start_time(int pid);
// This process as an owner.
RunOwner current_owner();
bool is_alive(const RunOwner& owner);

inline constexpr std::string_view kCgroupPrefix = "ebpfrun-c-";            // + PID-START
inline constexpr std::string_view kMountPrefix = "/tmp/ebpfrun-cgroup2-";  // + PID-START

std::string owner_suffix(const RunOwner& owner);  // "PID-START"
// The owner encoded after `prefix` in `name` ("ebpfrun-c-12-345" → {12, 345}).
std::optional<RunOwner> parse_owner(std::string_view name, std::string_view prefix);

// Kills every process in a cgroup v2 directory (cgroup.kill, or SIGKILL to
// each member on kernels before 5.14), waits up to ~2 s for it to empty and
// removes it. True when the directory is gone.
bool remove_cgroup(const std::string& dir);

// Removes the cgroups under `cgroup_root` and the private cgroup2 mounts under
// /tmp left by earlier -c runs whose ebpfrun no longer exists. Returns how
// many it removed; failures are logged, never fatal.
int remove_leftovers(const std::string& cgroup_root);

// The guard process of one run. Dismissing it (or the death of this process)
// makes it clean up and exit.
class CgroupGuard {
 public:
  // Forks the guard; it will remove `cgroup_dir` and, if not empty, unmount
  // and remove `mount_dir`. Neither needs to exist yet.
  static Result<CgroupGuard> start(const std::string& cgroup_dir, const std::string& mount_dir);
  CgroupGuard(CgroupGuard&& other) noexcept;
  CgroupGuard& operator=(CgroupGuard&&) = delete;
  CgroupGuard(const CgroupGuard&) = delete;
  ~CgroupGuard();

  // Lets the guard clean up now and waits until it has.
  void dismiss();

 private:
  CgroupGuard() = default;
  pid_t pid_ = -1;
  int pipe_fd_ = -1;
};

}  // namespace ebpfrun::cli

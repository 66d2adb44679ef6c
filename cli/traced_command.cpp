#include "cli/traced_command.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "common/files.h"
#include "common/log.h"

namespace ebpfrun::cli {
namespace {

// An existing cgroup2 mount point, or "".
std::string find_cgroup2_mount() {
  std::ifstream mounts("/proc/self/mounts");
  std::string device, dir, type, rest;
  while (mounts >> device >> dir >> type && std::getline(mounts, rest))
    if (type == "cgroup2") return dir;
  return "";
}

// The processes in a cgroup v2 directory.
std::vector<int> cgroup_pids(const std::string& dir) {
  std::vector<int> pids;
  std::ifstream procs(dir + "/cgroup.procs");
  for (int pid = 0; procs >> pid;) pids.push_back(pid);
  return pids;
}

void signal_cgroup(const std::string& dir, int signal) {
  for (int pid : cgroup_pids(dir)) ::kill(pid, signal);
}

}  // namespace

Result<TracedCommand> TracedCommand::start(const std::string& command) {
  TracedCommand traced;
  std::string root = find_cgroup2_mount();
  if (root.empty()) {
    char dir_template[] = "/tmp/ebpfrun-cgroup2-XXXXXX";
    if (!::mkdtemp(dir_template))
      return make_error(fmt::format("-c: cannot create a cgroup2 mount point: {}", std::strerror(errno)));
    if (::mount("none", dir_template, "cgroup2", 0, nullptr) != 0) {
      int err = errno;
      ::rmdir(dir_template);
      return make_error(
          fmt::format("-c needs cgroup v2 to follow the command's children, and mounting it failed: {} "
                      "(run as root, or use -p PID)",
                      std::strerror(err)));
    }
    traced.mount_dir_ = root = dir_template;
  }
  traced.cgroup_dir_ = fmt::format("{}/ebpfrun-c-{}", root, ::getpid());
  if (::mkdir(traced.cgroup_dir_.c_str(), 0755) != 0 && errno != EEXIST)
    return make_error(fmt::format("-c: cannot create cgroup {}: {}", traced.cgroup_dir_, std::strerror(errno)));
  struct stat st {};
  if (::stat(traced.cgroup_dir_.c_str(), &st) != 0) return make_error("-c: cannot stat the command's cgroup");
  traced.cgroup_id_ = st.st_ino;

  int gate[2];
  if (::pipe2(gate, O_CLOEXEC) != 0) return make_error(fmt::format("-c: pipe: {}", std::strerror(errno)));
  std::fflush(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) return make_error(fmt::format("-c: fork: {}", std::strerror(errno)));
  if (pid == 0) {
    ::close(gate[1]);
    char go = 0;
    // Wait until the parent has attached its probes (or exited: read returns 0).
    if (::read(gate[0], &go, 1) != 1) ::_exit(127);
    ::execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(gate[0]);
  traced.pid_ = pid;
  traced.gate_fd_ = gate[1];
  if (auto moved = files::write_atomic(traced.cgroup_dir_ + "/cgroup.procs", std::to_string(pid)); !moved) {
    // cgroup.procs cannot be replaced by rename; write it directly.
    std::ofstream procs(traced.cgroup_dir_ + "/cgroup.procs");
    procs << pid;
    if (!procs.flush())
      return make_error(fmt::format("-c: cannot move the command into cgroup {}", traced.cgroup_dir_));
  }
  log::debug("-c: started '{}' as pid {} in cgroup {} (id {})", command, pid, traced.cgroup_dir_, traced.cgroup_id_);
  return traced;
}

TracedCommand::TracedCommand(TracedCommand&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      gate_fd_(std::exchange(other.gate_fd_, -1)),
      cgroup_id_(other.cgroup_id_),
      cgroup_dir_(std::move(other.cgroup_dir_)),
      mount_dir_(std::move(other.mount_dir_)),
      reaped_(other.reaped_),
      status_(other.status_) {}

void TracedCommand::release() {
  if (gate_fd_ < 0) return;
  char go = 1;
  if (::write(gate_fd_, &go, 1) != 1) log::warn("-c: could not start the command: {}", std::strerror(errno));
  ::close(gate_fd_);
  gate_fd_ = -1;
}

bool TracedCommand::exited() {
  if (reaped_) return true;
  if (pid_ < 0) return true;
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) == pid_) {
    reaped_ = true;
    status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return true;
  }
  return false;
}

TracedCommand::~TracedCommand() {
  if (pid_ < 0) return;
  if (gate_fd_ >= 0) ::close(gate_fd_);  // an unreleased command exits without running
  int status = 0;
  bool stopped = false;
  if (!reaped_ && ::waitpid(pid_, &status, WNOHANG) == 0) {
    // The run ended before the command (duration, an error, ebpf.stop()): the
    // command and its children go with it, as nobody traces them any more.
    // SIGTERM first, then SIGKILL for whatever is left after a second.
    log::debug("-c: the run ended before the command; stopping everything in cgroup {}", cgroup_dir_);
    stopped = true;
    ::kill(pid_, SIGTERM);
    signal_cgroup(cgroup_dir_, SIGTERM);
    for (int i = 0; i < 100 && !cgroup_pids(cgroup_dir_).empty(); ++i) {
      ::waitpid(pid_, &status, WNOHANG);
      ::usleep(10000);
    }
    signal_cgroup(cgroup_dir_, SIGKILL);
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status, 0);
  }
  // The cgroup can go once the command and its children are gone; children
  // the command left running keep it, which is harmless. Processes just
  // killed take a moment to leave it.
  if (!cgroup_dir_.empty()) {
    int tries = stopped ? 100 : 1;
    while (::rmdir(cgroup_dir_.c_str()) != 0) {
      if (errno != EBUSY || --tries == 0) {
        log::debug("-c: left cgroup {}: {}", cgroup_dir_, std::strerror(errno));
        break;
      }
      ::usleep(10000);
    }
  }
  if (!mount_dir_.empty() && ::umount2(mount_dir_.c_str(), MNT_DETACH) == 0) ::rmdir(mount_dir_.c_str());
}

}  // namespace ebpfrun::cli

#include "cli/command_cgroup.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "common/files.h"
#include "common/log.h"
#include "system/mounts.h"

namespace ebpfrun::cli {
namespace {

// The guard runs these after fork(), so they stick to plain system calls and
// never log: the parent may be gone and stderr a closed pipe.
bool write_text(const std::string& path, const char* text) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = ::write(fd, text, std::strlen(text)) == static_cast<ssize_t>(std::strlen(text));
  ::close(fd);
  return ok;
}

void kill_members(const std::string& dir) {
  if (write_text(dir + "/cgroup.kill", "1")) return;
  // Before Linux 5.14 there is no cgroup.kill: signal each member. A process
  // forking at this moment may escape one round; the caller retries.
  auto procs = files::read(dir + "/cgroup.procs");
  if (!procs) return;
  size_t pos = 0;
  while (pos < procs->size()) {
    int pid = std::atoi(procs->c_str() + pos);
    if (pid > 0) ::kill(pid, SIGKILL);
    pos = procs->find('\n', pos);
    if (pos == std::string::npos) break;
    ++pos;
  }
}

// The cgroup's child cgroups (a command may create its own below ours).
std::vector<std::string> child_cgroups(const std::string& dir) {
  std::vector<std::string> children;
  DIR* d = ::opendir(dir.c_str());
  if (!d) return children;
  while (dirent* entry = ::readdir(d))
    if (entry->d_type == DT_DIR && std::strcmp(entry->d_name, ".") != 0 && std::strcmp(entry->d_name, "..") != 0)
      children.push_back(dir + "/" + entry->d_name);
  ::closedir(d);
  return children;
}

bool remove_mount_dir(const std::string& mount_dir) {
  // The mount may already be gone (its mount namespace ended): then only the
  // directory is left.
  if (::umount2(mount_dir.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT) return false;
  return ::rmdir(mount_dir.c_str()) == 0 || errno == ENOENT;
}

// Runs in the forked guard: waits for the pipe to close, then cleans up.
[[noreturn]] void guard_main(int pipe_fd, const std::string& cgroup_dir, const std::string& mount_dir) {
  for (int sig : {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGPIPE, SIGUSR1, SIGUSR2, SIGALRM, SIGTSTP, SIGTTIN, SIGTTOU})
    std::signal(sig, SIG_IGN);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  // Hold no descriptor but the pipe: not ebpfrun's BPF objects (they must go
  // when ebpfrun goes), and not its stdout (a reader waiting for EOF would
  // wait for the guard).
  if (pipe_fd != 3) {
    ::dup2(pipe_fd, 3);
    pipe_fd = 3;
  }
  int null_fd = ::open("/dev/null", O_RDWR);
  if (null_fd >= 0)
    for (int fd = 0; fd < 3; ++fd) ::dup2(null_fd, fd);
  ::close_range(4, ~0U, 0);
  ::prctl(PR_SET_NAME, "ebpfrun-guard", 0, 0, 0);
  // ebpfrun never writes: the read returns when the last writer is gone.
  for (char byte;;) {
    ssize_t n = ::read(pipe_fd, &byte, 1);
    if (n == 0 || (n < 0 && errno != EINTR)) break;
  }
  remove_cgroup(cgroup_dir);
  if (!mount_dir.empty()) remove_mount_dir(mount_dir);
  ::_exit(0);
}

}  // namespace

std::optional<uint64_t> process_start_time(int pid) {
  auto stat = files::read(fmt::format("/proc/{}/stat", pid));
  if (!stat) return std::nullopt;
  // "PID (COMM) STATE ..." where COMM may hold spaces and parentheses: the
  // fields are counted after the last ')'. The start time is field 22.
  size_t pos = stat->rfind(')');
  if (pos == std::string::npos) return std::nullopt;
  int field = 2;        // the comm
  while (field < 22) {  // pos ends on the space before field `field`
    pos = stat->find(' ', pos + 1);
    if (pos == std::string::npos) return std::nullopt;
    ++field;
  }
  return std::strtoull(stat->c_str() + pos + 1, nullptr, 10);
}

RunOwner current_owner() { return RunOwner{::getpid(), process_start_time(::getpid()).value_or(0)}; }

bool is_alive(const RunOwner& owner) {
  auto start = process_start_time(owner.pid);
  return start && *start == owner.start_time;
}

std::string owner_suffix(const RunOwner& owner) { return fmt::format("{}-{}", owner.pid, owner.start_time); }

std::optional<RunOwner> parse_owner(std::string_view name, std::string_view prefix) {
  if (!name.starts_with(prefix)) return std::nullopt;
  name.remove_prefix(prefix.size());
  size_t dash = name.find('-');
  if (dash == 0 || dash == std::string_view::npos || dash + 1 == name.size()) return std::nullopt;
  RunOwner owner;
  for (char c : name.substr(0, dash)) {
    if (c < '0' || c > '9' || owner.pid > 100000000) return std::nullopt;
    owner.pid = owner.pid * 10 + (c - '0');
  }
  for (char c : name.substr(dash + 1)) {
    if (c < '0' || c > '9' || owner.start_time > (UINT64_MAX - 9) / 10) return std::nullopt;
    owner.start_time = owner.start_time * 10 + static_cast<uint64_t>(c - '0');
  }
  if (owner.pid <= 0) return std::nullopt;
  return owner;
}

bool remove_cgroup(const std::string& dir) {
  for (int attempt = 0; attempt < 200; ++attempt) {
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0) return errno == ENOENT;
    for (const auto& child : child_cgroups(dir)) remove_cgroup(child);
    kill_members(dir);
    if (::rmdir(dir.c_str()) == 0 || errno == ENOENT) return true;
    if (errno != EBUSY) return false;
    ::usleep(10000);  // killed processes take a moment to leave the cgroup
  }
  return false;
}

int remove_leftovers(const std::string& cgroup_root) {
  int removed = 0;
  auto stale = [](std::string_view name, std::string_view prefix) {
    auto owner = parse_owner(name, prefix);
    return owner && !is_alive(*owner);
  };
  if (!cgroup_root.empty())
    for (const auto& dir : child_cgroups(cgroup_root)) {
      std::string name = dir.substr(cgroup_root.size() + 1);
      if (!stale(name, kCgroupPrefix)) continue;
      if (remove_cgroup(dir)) {
        log::info("-c: removed cgroup {} left by an earlier run that was killed", dir);
        ++removed;
      } else {
        log::warn("-c: cannot remove cgroup {} left by an earlier run: {}", dir, std::strerror(errno));
      }
    }
  // Private cgroup2 mounts of earlier runs: mounted ones are in our mount
  // table (when they share our mount namespace), unmounted ones are bare
  // directories under /tmp.
  const std::string tmp = "/tmp";
  const std::string_view mount_name = kMountPrefix.substr(tmp.size() + 1);
  DIR* d = ::opendir(tmp.c_str());
  if (!d) return removed;
  std::vector<std::string> dirs;
  while (dirent* entry = ::readdir(d))
    if (stale(entry->d_name, mount_name)) dirs.push_back(tmp + "/" + entry->d_name);
  ::closedir(d);
  for (const auto& dir : dirs) {
    for (const auto& cgroup : child_cgroups(dir))
      if (stale(cgroup.substr(dir.size() + 1), kCgroupPrefix)) remove_cgroup(cgroup);
    if (remove_mount_dir(dir)) {
      log::info("-c: removed the private cgroup2 mount {} left by an earlier run that was killed", dir);
      ++removed;
    } else {
      log::warn("-c: cannot remove {} left by an earlier run: {}", dir, std::strerror(errno));
    }
  }
  return removed;
}

Result<CgroupGuard> CgroupGuard::start(const std::string& cgroup_dir, const std::string& mount_dir) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0)
    return make_error(fmt::format("-c: cannot create the cleanup guard's pipe: {}", std::strerror(errno)));
  std::fflush(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) {
    int err = errno;
    ::close(fds[0]);
    ::close(fds[1]);
    return make_error(fmt::format("-c: cannot start the cleanup guard: {}", std::strerror(err)));
  }
  if (pid == 0) {
    ::close(fds[1]);
    guard_main(fds[0], cgroup_dir, mount_dir);
  }
  ::close(fds[0]);
  CgroupGuard guard;
  guard.pid_ = pid;
  guard.pipe_fd_ = fds[1];
  return guard;
}

CgroupGuard::CgroupGuard(CgroupGuard&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)), pipe_fd_(std::exchange(other.pipe_fd_, -1)) {}

void CgroupGuard::dismiss() {
  if (pipe_fd_ >= 0) ::close(pipe_fd_);
  pipe_fd_ = -1;
  if (pid_ > 0) {
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
  pid_ = -1;
}

CgroupGuard::~CgroupGuard() { dismiss(); }

}  // namespace ebpfrun::cli

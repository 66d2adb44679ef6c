#include "cli/traced_command.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <utility>

#include <fmt/format.h>

#include "common/files.h"
#include "common/log.h"
#include "system/privileges.h"

namespace ebpfrun::cli {
namespace {

// The signals that end a process by default and can be caught. While the
// cgroup is being made and the guard started, one of them arriving would end
// ebpfrun between two steps; blocked, it is delivered once everything that
// needs cleaning up has its cleaner. (SIGSEGV and friends stay unblocked:
// blocking them is undefined when the process raises them itself.)
constexpr int kTerminatingSignals[] = {SIGHUP,  SIGINT,  SIGQUIT,   SIGTERM, SIGPIPE, SIGALRM,
                                       SIGUSR1, SIGUSR2, SIGVTALRM, SIGPROF, SIGXCPU, SIGXFSZ};

class BlockedSignals {
 public:
  BlockedSignals() {
    sigset_t set;
    sigemptyset(&set);
    for (int sig : kTerminatingSignals) sigaddset(&set, sig);
    ::sigprocmask(SIG_BLOCK, &set, &previous_);
  }
  ~BlockedSignals() { ::sigprocmask(SIG_SETMASK, &previous_, nullptr); }
  BlockedSignals(const BlockedSignals&) = delete;
  BlockedSignals& operator=(const BlockedSignals&) = delete;
  const sigset_t& previous() const { return previous_; }

 private:
  sigset_t previous_;
};

// An existing cgroup2 mount point, or "".
std::string find_cgroup2_mount() {
  std::ifstream mounts("/proc/self/mounts");
  std::string device, dir, type, rest;
  while (mounts >> device >> dir >> type && std::getline(mounts, rest))
    if (type == "cgroup2") return dir;
  return "";
}

bool cgroup_populated(const std::string& dir) {
  auto events = files::read(dir + "/cgroup.events");
  return !events || events->find("populated 1") != std::string::npos;
}

// Runs in the forked child: waits at the gate, then becomes the command.
[[noreturn]] void command_main(const std::string& command, int gate_fd, pid_t parent, const sigset_t& mask) {
  // Die with ebpfrun, even by SIGKILL. If it is already gone, the prctl came
  // too late to notice: do not start at all.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  if (::getppid() != parent) ::_exit(127);
  // The command gets the signal state ebpfrun was started with.
  for (int sig : kTerminatingSignals) std::signal(sig, SIG_DFL);
  ::sigprocmask(SIG_SETMASK, &mask, nullptr);
  char go = 0;
  // Wait until the parent has attached its probes (or exited: read returns 0).
  if (::read(gate_fd, &go, 1) != 1) ::_exit(127);
  ::execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
  ::_exit(127);
}

// Names what is missing when the kernel said EPERM/EACCES (measured: write
// access to the cgroup2 root, i.e. root or CAP_DAC_OVERRIDE or a delegated
// cgroup).
std::string mkdir_advice(int err) {
  std::string why = system::explain_refusal(system::Feature::traced_command, err);
  return why.empty() ? "" : fmt::format("; {} (or trace with -p PID)", why);
}

}  // namespace

Result<TracedCommand> TracedCommand::start(const std::string& command) {
  BlockedSignals blocked;
  const RunOwner owner = current_owner();
  TracedCommand traced;
  std::string root = find_cgroup2_mount();
  std::string mount_dir;
  if (root.empty()) mount_dir = fmt::format("{}{}", kMountPrefix, owner_suffix(owner));
  remove_leftovers(root);
  traced.cgroup_dir_ = fmt::format("{}/{}{}", root.empty() ? mount_dir : root, kCgroupPrefix, owner_suffix(owner));

  // From here on everything made is removed by the guard, whatever happens.
  auto guard = CgroupGuard::start(traced.cgroup_dir_, mount_dir);
  if (!guard) return std::move(guard).take_error();
  traced.guard_.emplace(std::move(guard).value());

  if (!mount_dir.empty()) {
    if (::mkdir(mount_dir.c_str(), 0700) != 0)
      return make_error(
          fmt::format("-c: cannot create the cgroup2 mount point {}: {}", mount_dir, std::strerror(errno)));
    if (::mount("none", mount_dir.c_str(), "cgroup2", 0, nullptr) != 0)
      return make_error(
          fmt::format("-c needs cgroup v2 to follow the command's children; none is mounted and mounting it failed: {} "
                      "(mounting needs CAP_SYS_ADMIN: run as root, mount cgroup2 first, or use -p PID)",
                      std::strerror(errno)));
    root = mount_dir;
    remove_leftovers(root);
  }
  if (::mkdir(traced.cgroup_dir_.c_str(), 0755) != 0) {
    int err = errno;
    return make_error(
        fmt::format("-c: cannot create cgroup {}: {}{}", traced.cgroup_dir_, std::strerror(err), mkdir_advice(err)));
  }
  struct stat st {};
  if (::stat(traced.cgroup_dir_.c_str(), &st) != 0) return make_error("-c: cannot stat the command's cgroup");
  traced.cgroup_id_ = st.st_ino;

  int gate[2];
  if (::pipe2(gate, O_CLOEXEC) != 0) return make_error(fmt::format("-c: pipe: {}", std::strerror(errno)));
  std::fflush(nullptr);
  const pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    int err = errno;
    ::close(gate[0]);
    ::close(gate[1]);
    return make_error(fmt::format("-c: fork: {}", std::strerror(err)));
  }
  if (pid == 0) {
    ::close(gate[1]);
    command_main(command, gate[0], parent, blocked.previous());
  }
  ::close(gate[0]);
  traced.pid_ = pid;
  traced.gate_fd_ = gate[1];
  // cgroup.procs cannot be replaced by rename; it is written directly. The
  // child waits at the gate, so it has forked nothing that could stay behind.
  std::ofstream procs(traced.cgroup_dir_ + "/cgroup.procs");
  procs << pid;
  if (!procs.flush())
    return make_error(
        fmt::format("-c: cannot move the command into cgroup {}{}", traced.cgroup_dir_, mkdir_advice(EACCES)));
  log::debug("-c: started '{}' as pid {} in cgroup {} (id {})", command, pid, traced.cgroup_dir_, traced.cgroup_id_);
  return traced;
}

TracedCommand::TracedCommand(TracedCommand&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      gate_fd_(std::exchange(other.gate_fd_, -1)),
      cgroup_id_(other.cgroup_id_),
      cgroup_dir_(std::move(other.cgroup_dir_)),
      guard_(std::move(other.guard_)),
      reaped_(other.reaped_),
      status_(other.status_) {
  other.guard_.reset();
}

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
  if (gate_fd_ >= 0) ::close(gate_fd_);  // an unreleased command exits without running
  if (pid_ > 0 && !exited()) {
    // The run ended before the command (duration, an error, ebpf.stop()): the
    // command and its children go with it, as nobody traces them any more.
    // SIGTERM first, so that they may clean up; the guard SIGKILLs whatever
    // is left after a second.
    log::debug("-c: the run ended before the command; stopping everything in cgroup {}", cgroup_dir_);
    ::kill(pid_, SIGTERM);
    if (auto procs = files::read(cgroup_dir_ + "/cgroup.procs"))
      for (size_t pos = 0; pos < procs->size();) {
        if (int member = std::atoi(procs->c_str() + pos); member > 0) ::kill(member, SIGTERM);
        pos = procs->find('\n', pos);
        pos = pos == std::string::npos ? procs->size() : pos + 1;
      }
    for (int i = 0; i < 100 && cgroup_populated(cgroup_dir_); ++i) {
      exited();
      ::usleep(10000);
    }
  }
  // The guard kills what is left (including what the command started in the
  // background), removes the cgroup and the private mount.
  if (guard_) guard_->dismiss();
  if (pid_ > 0 && !reaped_) {
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
}

}  // namespace ebpfrun::cli

#include "compiler/internal/backend_loader.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

#include "common/files.h"
#include "common/log.h"
#include "compiler/internal/backend_wire.h"

namespace ebpfrun::compiler {
namespace {

constexpr const char* kLibraryName = "libebpfrun-clang.so";

}  // namespace

Result<std::string> backend_library_path() {
  return files::find_library(kLibraryName, "EBPFRUN_COMPILER_LIB", "the BPF compiler library");
}

std::string backend_fingerprint() {
  auto path = backend_library_path();
  if (!path) return "none";
  struct stat st {};
  if (::stat(path->c_str(), &st) != 0) return "none";
  return fmt::format("{}:{}:{}.{}", *path, st.st_size, st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
}

namespace {

using CompileFn = void (*)(const BackendRequest*, BackendResult*);

// Runs in the child: load the backend, compile, write the encoded result.
[[noreturn]] void child_main(const BackendRequest& request, int out_fd) {
  BackendResult result;
  auto path = backend_library_path();
  if (!path) {
    result.failure = path.error();
  } else if (void* handle = ::dlopen(path->c_str(), RTLD_NOW | RTLD_LOCAL)) {
    auto abi = reinterpret_cast<int (*)()>(::dlsym(handle, "ebpfrun_backend_abi_version"));
    auto compile = reinterpret_cast<CompileFn>(::dlsym(handle, "ebpfrun_backend_compile"));
    if (!abi || !compile || abi() != kBackendAbiVersion)
      result.failure = fmt::format("{} does not match this ebpfrun (expected compiler interface {}); reinstall ebpfrun",
                                   *path, kBackendAbiVersion);
    else
      compile(&request, &result);
  } else {
    result.failure = fmt::format("cannot load the BPF compiler library: {}", ::dlerror());
  }
  std::string bytes = encode_result(result);
  const char* p = bytes.data();
  size_t left = bytes.size();
  while (left > 0) {
    ssize_t n = ::write(out_fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    p += n;
    left -= static_cast<size_t>(n);
  }
  // _exit: the child must not run the host's atexit handlers or flush its stdio.
  ::_exit(0);
}

// What the child wrote to stderr (LLVM's fatal errors go there).
std::string read_all(int fd) {
  std::string text;
  char buf[4096];
  for (off_t offset = 0; fd >= 0;) {
    ssize_t n = ::pread(fd, buf, sizeof buf, offset);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buf, static_cast<size_t>(n));
    offset += n;
  }
  return text;
}

// The end of the child's stderr, for the message when it died without a result.
std::string tail_of(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  if (text.size() > 2000) text = "..." + text.substr(text.size() - 2000);
  return text.empty() ? text : ":\n" + text;
}

}  // namespace

void compile_in_child(const BackendRequest& request, BackendResult& result) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    result.failure = fmt::format("cannot start the BPF compiler: pipe: {}", std::strerror(errno));
    return;
  }
  // The child's stderr goes to an anonymous memory file rather than the
  // user's terminal: clang and LLVM print fatal errors there before exiting.
  int err_fd = ::memfd_create("ebpfrun-compiler-stderr", MFD_CLOEXEC);
  const pid_t parent = ::getpid();
  std::fflush(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) {
    result.failure = fmt::format("cannot start the BPF compiler: fork: {}", std::strerror(errno));
    ::close(fds[0]);
    ::close(fds[1]);
    if (err_fd >= 0) ::close(err_fd);
    return;
  }
  if (pid == 0) {
    // The compiler dies with its parent: a killed ebpfrun leaves no clang
    // running (and no half-built file). The getppid() check closes the race
    // of a parent that died before the prctl.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(1);
    ::close(fds[0]);
    if (err_fd >= 0) ::dup2(err_fd, STDERR_FILENO);
    child_main(request, fds[1]);
  }
  ::close(fds[1]);
  std::string bytes;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    bytes.append(buf, static_cast<size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  std::string child_stderr = read_all(err_fd);
  if (err_fd >= 0) ::close(err_fd);
  const std::string details = tail_of(child_stderr);
  if (WIFSIGNALED(status)) {
    result = BackendResult{};
    result.failure =
        fmt::format("the BPF compiler crashed ({}) while compiling {}; this is a bug in clang or ebpfrun{}",
                    ::strsignal(WTERMSIG(status)), request.main_path, details);
    return;
  }
  if (!decode_result(bytes, result)) {
    result = BackendResult{};
    result.failure = fmt::format("the BPF compiler exited (status {}) without a result while compiling {}{}",
                                 WIFEXITED(status) ? WEXITSTATUS(status) : -1, request.main_path, details);
    return;
  }
  // A child that finished normally but printed something (LD_DEBUG, an LLVM
  // warning) is passed through, as if it had written to our stderr itself.
  if (!child_stderr.empty()) std::fwrite(child_stderr.data(), 1, child_stderr.size(), stderr);
}

}  // namespace ebpfrun::compiler

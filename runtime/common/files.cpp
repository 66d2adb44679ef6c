#include "common/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

namespace ebpfrun::files {

Result<std::string> read(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return make_errno_error(errno, fmt::format("cannot open {}: {}", path, std::strerror(errno)));
  std::string out;
  struct stat st {};
  if (::fstat(fd, &st) == 0 && st.st_size > 0) out.reserve(static_cast<size_t>(st.st_size));
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int saved = errno;
      ::close(fd);
      return make_errno_error(saved, fmt::format("cannot read {}: {}", path, std::strerror(saved)));
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

Status write_atomic(const std::string& path, std::string_view contents, unsigned mode) {
  std::string tmp = fmt::format("{}.tmp.{}", path, ::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return make_errno_error(errno, fmt::format("cannot create {}: {}", tmp, std::strerror(errno)));
  const char* p = contents.data();
  size_t left = contents.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      int saved = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return make_errno_error(saved, fmt::format("cannot write {}: {}", tmp, std::strerror(saved)));
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  if (::close(fd) != 0 || ::rename(tmp.c_str(), path.c_str()) != 0) {
    int saved = errno;
    ::unlink(tmp.c_str());
    return make_errno_error(saved, fmt::format("cannot write {}: {}", path, std::strerror(saved)));
  }
  return ok_status();
}

Status make_dirs(const std::string& path, unsigned mode) {
  if (path.empty()) return ok_status();
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = path.find('/', pos + 1);
    std::string prefix = path.substr(0, pos);
    if (prefix.empty()) continue;
    if (::mkdir(prefix.c_str(), mode) != 0 && errno != EEXIST)
      return make_errno_error(errno, fmt::format("cannot create directory {}: {}", prefix, std::strerror(errno)));
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return make_error(ErrorKind::busy, fmt::format("{} exists but is not a directory", path));
  return ok_status();
}

bool exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

std::string executable_path() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

std::string executable_dir() {
  std::string path = executable_path();
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

Result<std::string> find_library(const char* name, const char* env_var, const std::string& what) {
  if (const char* env = std::getenv(env_var); env && *env) {
    if (!exists(env))
      return make_error(ErrorKind::not_found, fmt::format("{} points to {}, which does not exist", env_var, env));
    return std::string(env);
  }
  const std::string dir = executable_dir();
  for (const std::string& candidate : {dir + "/" + name, dir + "/../lib/ebpfrun/" + name})
    if (exists(candidate)) return candidate;
  return make_error(ErrorKind::not_found,
                    fmt::format("{} {} was not found beside {} or in {}/../lib/ebpfrun; reinstall ebpfrun or set {}",
                                what, name, dir, dir, env_var));
}

}  // namespace ebpfrun::files

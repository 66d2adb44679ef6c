#include "common/result.h"

#include <cerrno>

namespace ebpfrun {

const char* error_kind_name(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::other:
      return "other";
    case ErrorKind::invalid_argument:
      return "invalid_argument";
    case ErrorKind::not_found:
      return "not_found";
    case ErrorKind::not_supported:
      return "not_supported";
    case ErrorKind::permission:
      return "permission";
    case ErrorKind::verifier:
      return "verifier";
    case ErrorKind::compile:
      return "compile";
    case ErrorKind::resource:
      return "resource";
    case ErrorKind::busy:
      return "busy";
    case ErrorKind::internal:
      return "internal";
  }
  return "other";
}

ErrorKind error_kind_from_errno(int err_no) {
  // The kernel's ENOTSUPP (524) is not in userspace errno.h; BPF returns it
  // for helpers and attach types a kernel lacks.
  constexpr int kKernelNotSupported = 524;
  switch (err_no < 0 ? -err_no : err_no) {
    case EPERM:
    case EACCES:
      return ErrorKind::permission;
    case ENOENT:
    case ESRCH:
    case ENXIO:
      return ErrorKind::not_found;
    case EOPNOTSUPP:
    case ENOSYS:
    case kKernelNotSupported:
      return ErrorKind::not_supported;
    case EINVAL:
      return ErrorKind::invalid_argument;
    case ENOMEM:
    case E2BIG:
    case ENOSPC:
    case EMFILE:
    case ENFILE:
      return ErrorKind::resource;
    case EBUSY:
    case EEXIST:
      return ErrorKind::busy;
    default:
      return ErrorKind::other;
  }
}

}  // namespace ebpfrun

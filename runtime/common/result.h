// Result<T>: a value or an Error, returned by every factory and fallible
// operation in the runtime. C++20 has no std::expected, so this is the small
// subset we need. Accessing the wrong alternative is a programming error and
// aborts rather than throwing, because runtime code never throws.
//
// An Error carries a message for the user and, for callers that decide what
// to do next, a kind (a closed set, like cilium/ebpf's ErrNotSupported and
// VerifierError), the errno that caused it and, for a verifier rejection, the
// kernel's whole verifier log. Callers branch on kind(), never on the text.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace ebpfrun {

// Why an operation failed, in the terms a caller acts on. Lua sees the name
// given by error_kind_name() as err.kind.
enum class ErrorKind {
  other,             // no more specific kind (an I/O failure, an unexpected errno)
  invalid_argument,  // the request itself is wrong: bad spec, bad filter, bad value
  not_found,         // a named thing does not exist: tracepoint, symbol, map, file, type
  not_supported,     // this kernel or build lacks the feature (kprobes, fentry, BTF)
  permission,        // EPERM/EACCES: privileges or a lockdown forbid it
  verifier,          // the kernel's verifier rejected a program; log() holds its log
  compile,           // the BPF C did not compile; the message holds the diagnostics
  resource,          // a limit was hit: no memory, map full, too many files (ENOMEM, E2BIG, EMFILE)
  busy,              // the target is taken or exists already (EBUSY, EEXIST)
  internal,          // a broken invariant in ebpfrun itself
};

const char* error_kind_name(ErrorKind kind);

// The kind an errno means: EPERM/EACCES → permission, ENOENT/ESRCH → not_found,
// EOPNOTSUPP/ENOTSUPP/ENOSYS → not_supported, EINVAL → invalid_argument,
// ENOMEM/E2BIG/ENOSPC/EMFILE/ENFILE → resource, EBUSY/EEXIST → busy, else other.
// Accepts libbpf's negative error codes as well.
ErrorKind error_kind_from_errno(int err_no);

// An error meant for the user (the message: one or more full sentences) and
// for the caller (kind, err_no, log).
struct Error {
  std::string message;
  ErrorKind kind = ErrorKind::other;
  int err_no = 0;   // positive errno that caused it; 0 when none
  std::string log;  // verifier errors: the kernel's whole verifier log

  // The same kind, errno and log under a new message: for adding context
  // ("attaching x: <inner message>") without losing why it failed.
  Error with_message(std::string new_message) const& {
    Error copy = *this;
    copy.message = std::move(new_message);
    return copy;
  }
  Error with_message(std::string new_message) && {
    message = std::move(new_message);
    return std::move(*this);
  }
};

inline Error make_error(std::string message) { return Error{std::move(message), ErrorKind::other, 0, {}}; }
inline Error make_error(ErrorKind kind, std::string message, int err_no = 0) {
  return Error{std::move(message), kind, err_no < 0 ? -err_no : err_no, {}};
}
// An error caused by errno `err_no` (positive or libbpf's negative), its kind
// derived with error_kind_from_errno().
inline Error make_errno_error(int err_no, std::string message) {
  return make_error(error_kind_from_errno(err_no), std::move(message), err_no);
}

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::in_place_index<0>, std::move(value)) {}
  Result(Error error) : state_(std::in_place_index<1>, std::move(error)) {}

  bool ok() const { return state_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & {
    check(true);
    return std::get<0>(state_);
  }
  const T& value() const& {
    check(true);
    return std::get<0>(state_);
  }
  T&& value() && {
    check(true);
    return std::get<0>(std::move(state_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }

  // The message only (what most callers print).
  const std::string& error() const { return error_info().message; }
  // The whole error: message, kind, errno and log.
  const Error& error_info() const {
    check(false);
    return std::get<1>(state_);
  }
  ErrorKind error_kind() const { return error_info().kind; }
  Error take_error() && {
    check(false);
    return std::get<1>(std::move(state_));
  }

 private:
  void check(bool want_value) const {
    if (ok() != want_value) {
      std::fprintf(stderr, "ebpfrun: internal error: Result accessed as %s\n",
                   want_value ? "value but holds an error" : "error but holds a value");
      std::abort();
    }
  }
  std::variant<T, Error> state_;
};

// Result<void> equivalent.
struct Ok {};
using Status = Result<Ok>;
inline Status ok_status() { return Ok{}; }

}  // namespace ebpfrun

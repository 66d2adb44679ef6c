// Result<T>: a value or a human-readable error, returned by every factory and
// fallible operation in the runtime. C++20 has no std::expected, so this is the
// small subset we need. Accessing the wrong alternative is a programming error
// and aborts rather than throwing, because runtime code never throws.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <variant>

namespace ebpfrun {

// An error message meant for the user: one or more full sentences.
struct Error {
  std::string message;
};

inline Error make_error(std::string message) { return Error{std::move(message)}; }

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

  const std::string& error() const {
    check(false);
    return std::get<1>(state_).message;
  }
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

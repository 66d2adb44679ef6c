// The Error/Result API: old-style errors keep working, kinds and errnos travel
// with the error through Result and with_message().
#include <catch2/catch.hpp>

#include <cerrno>
#include <string>

#include "common/result.h"

using namespace ebpfrun;

namespace {

Result<int> fails_with(Error error) { return error; }

}  // namespace

TEST_CASE("make_error(message) is an error of kind other without errno or log", "[result]") {
  Result<int> r = fails_with(make_error("plain text"));
  REQUIRE_FALSE(r.ok());
  CHECK(r.error() == "plain text");
  CHECK(r.error_info().kind == ErrorKind::other);
  CHECK(r.error_kind() == ErrorKind::other);
  CHECK(r.error_info().err_no == 0);
  CHECK(r.error_info().log.empty());
}

TEST_CASE("make_error(kind, message, errno) keeps all three; negative errnos become positive", "[result]") {
  Result<int> r = fails_with(make_error(ErrorKind::not_found, "no tracepoint", -ENOENT));
  CHECK(r.error() == "no tracepoint");
  CHECK(r.error_kind() == ErrorKind::not_found);
  CHECK(r.error_info().err_no == ENOENT);
  Error taken = std::move(r).take_error();
  CHECK(taken.kind == ErrorKind::not_found);
  CHECK(taken.message == "no tracepoint");
}

TEST_CASE("make_errno_error derives the kind from the errno", "[result]") {
  CHECK(make_errno_error(EPERM, "x").kind == ErrorKind::permission);
  CHECK(make_errno_error(-EACCES, "x").kind == ErrorKind::permission);
  CHECK(make_errno_error(ENOENT, "x").kind == ErrorKind::not_found);
  CHECK(make_errno_error(-EOPNOTSUPP, "x").kind == ErrorKind::not_supported);
  CHECK(make_errno_error(-524, "x").kind == ErrorKind::not_supported);  // the kernel's ENOTSUPP
  CHECK(make_errno_error(EINVAL, "x").kind == ErrorKind::invalid_argument);
  CHECK(make_errno_error(E2BIG, "x").kind == ErrorKind::resource);
  CHECK(make_errno_error(EMFILE, "x").kind == ErrorKind::resource);
  CHECK(make_errno_error(EBUSY, "x").kind == ErrorKind::busy);
  CHECK(make_errno_error(EIO, "x").kind == ErrorKind::other);
  CHECK(make_errno_error(-EIO, "x").err_no == EIO);
}

TEST_CASE("with_message adds context and keeps kind, errno and log", "[result]") {
  Error verifier = make_error(ErrorKind::verifier, "rejected", EACCES);
  verifier.log = "0: R1=ctx\ninvalid mem access";
  Error wrapped = verifier.with_message("loading x: rejected");
  CHECK(wrapped.message == "loading x: rejected");
  CHECK(wrapped.kind == ErrorKind::verifier);
  CHECK(wrapped.err_no == EACCES);
  CHECK(wrapped.log == verifier.log);
  CHECK(verifier.message == "rejected");  // the original is untouched
}

TEST_CASE("every kind has a distinct snake_case name", "[result]") {
  CHECK(std::string(error_kind_name(ErrorKind::not_supported)) == "not_supported");
  CHECK(std::string(error_kind_name(ErrorKind::invalid_argument)) == "invalid_argument");
  CHECK(std::string(error_kind_name(ErrorKind::permission)) == "permission");
  CHECK(std::string(error_kind_name(ErrorKind::verifier)) == "verifier");
  CHECK(std::string(error_kind_name(ErrorKind::not_found)) == "not_found");
  CHECK(std::string(error_kind_name(ErrorKind::compile)) == "compile");
}

TEST_CASE("a Status carries an Error the same way", "[result]") {
  Status s = make_error(ErrorKind::permission, "need CAP_BPF", EPERM);
  REQUIRE_FALSE(s);
  CHECK(s.error_kind() == ErrorKind::permission);
  CHECK(ok_status().ok());
}

// Loading an Object into the kernel: lazily committed verifier-log buffers,
// the verifier's verdict summarized with its source line, optional programs
// the kernel refuses left out, and the CO-RE BTF cut's fallback to the whole
// kernel BTF. Opening, lifetime and summaries are in object.cpp.
#include <bpf/libbpf.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "common/log.h"
#include "loader/internal/tp_btf_targets.h"
#include "loader/line_info.h"
#include "loader/object.h"
#include "loader/verifier_log.h"

namespace ebpfrun::loader {

namespace {

// Per-program log buffers for the first load, in one anonymous mapping that
// is reserved but not committed: libbpf loads each program without a log and
// asks the kernel for one only after a rejection, so only the pages of the
// rejected program's log are ever touched. 5,000 programs cost address space,
// not 1.3 GB of memory.
class LazyLogs {
 public:
  LazyLogs(size_t programs, size_t each) : each_(each), size_(std::max<size_t>(programs, 1) * each) {
    void* p = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    base_ = p == MAP_FAILED ? nullptr : static_cast<char*>(p);
  }
  ~LazyLogs() {
    if (base_) ::munmap(base_, size_);
  }
  LazyLogs(const LazyLogs&) = delete;
  LazyLogs& operator=(const LazyLogs&) = delete;
  char* slot(size_t i) const { return base_ ? base_ + i * each_ : nullptr; }

 private:
  size_t each_;
  size_t size_;
  char* base_ = nullptr;
};

size_t program_count(bpf_object* object) {
  size_t n = 0;
  bpf_program* prog;
  bpf_object__for_each_program(prog, object)++ n;
  return n;
}

// Whether the effective capabilities include CAP_BPF (39) or CAP_SYS_ADMIN
// (21), from /proc/self/status (the loader does not depend on runtime/system).
bool may_load_bpf() {
  FILE* status = std::fopen("/proc/self/status", "r");
  if (!status) return false;
  char line[256];
  unsigned long long effective = 0;
  while (std::fgets(line, sizeof line, status))
    if (std::sscanf(line, "CapEff: %llx", &effective) == 1) break;
  std::fclose(status);
  return (effective >> 39 & 1) || (effective >> 21 & 1);
}

std::string fd_exhaustion_message(const std::string& name, int err) {
  struct rlimit limit {};
  ::getrlimit(RLIMIT_NOFILE, &limit);
  return fmt::format(
      "loading BPF object {} failed: {}: every program and map takes a file descriptor and this process may open "
      "{} (raise it with `ulimit -n`, up to the hard limit {})",
      name, err == -ENFILE ? "the system is out of file descriptors" : "too many open files",
      static_cast<unsigned long long>(limit.rlim_cur), static_cast<unsigned long long>(limit.rlim_max));
}

}  // namespace

Status Object::load(const LoadOptions& options) {
  if (!object_) return make_error(ErrorKind::invalid_argument, fmt::format("BPF object {} is closed", name_));
  if (loaded_) return ok_status();
  auto check_name = [this](const std::string& name, const char* what) -> Status {
    if (find_program(name)) return ok_status();
    std::string names;
    for (const auto& p : programs()) names += (names.empty() ? "" : ", ") + p.name;
    return make_error(ErrorKind::invalid_argument,
                      fmt::format("{} names program '{}', which BPF object {} does not have; its programs are: {}",
                                  what, name, name_, names));
  };
  for (const auto& [name, on] : options.autoload) {
    if (auto known = check_name(name, "autoload"); !known) return known;
    if (on)
      disabled_.erase(name);
    else
      disabled_.insert(name);
  }
  for (const auto& name : options.optional)
    if (auto known = check_name(name, "optional"); !known) return known;
  optional_ = options.optional;
  const std::set<std::string> disabled_before = disabled_;
  auto first = prepare();
  if (first) first = load_once(options);
  if (first) return first;
  auto loaded = load_without_refused_optionals(options, std::move(first));
  if (loaded || options_.core_btf_path.empty()) return loaded;
  // The BTF cut from the kernel's should relocate exactly as the whole one
  // (core_btf.h); should it ever not, the load must not fail for it: once
  // more against the whole kernel BTF, whose verdict is the one reported.
  log::debug("{}: load against {} failed; once more against the whole kernel BTF", name_, options_.core_btf_path);
  options_.core_btf_path.clear();
  disabled_ = disabled_before;
  notes_.clear();
  if (auto reopened = reopen(); !reopened) return reopened;
  auto again = load_once(options);
  if (again) return again;
  return load_without_refused_optionals(options, std::move(again));
}

// Some program was refused. When optional programs were being loaded, find
// out which of them the kernel refuses: load without all of them (a failure
// then is a required program's, and is the error), then add them back one at
// a time and keep those that load. libbpf loads an object all or nothing and
// does not say reliably which program failed (a missing fentry target fails
// before any verifier log exists), so trying is the dependable way.
Status Object::load_without_refused_optionals(const LoadOptions& options, Status first_failure) {
  std::vector<std::string> candidates;
  for (const auto& name : optional_)
    if (!disabled_.count(name)) candidates.push_back(name);
  if (candidates.empty()) return first_failure;
  for (const auto& name : candidates) disabled_.insert(name);
  if (auto reopened = reopen(); !reopened) return reopened;
  if (auto base = load_once(options); !base) return base;
  bool last_ok = true;
  for (const auto& name : candidates) {
    disabled_.erase(name);
    if (auto reopened = reopen(); !reopened) return reopened;
    auto attempt = load_once(options);
    last_ok = static_cast<bool>(attempt);
    if (last_ok) continue;
    disabled_.insert(name);
    std::string why = attempt.error();
    if (size_t nl = why.find('\n'); nl != std::string::npos) why.resize(nl);
    std::string note = fmt::format("optional program '{}' of {} was not loaded: {}", name, name_, why);
    log::warn("{}", note);
    notes_.push_back(std::move(note));
  }
  if (last_ok) return ok_status();
  if (auto reopened = reopen(); !reopened) return reopened;
  return load_once(options);
}

Status Object::load_once(const LoadOptions& options) {
  if (auto pins = check_pinned_maps(); !pins) return pins;

  auto clear_logs = [this] {
    bpf_program* prog;
    bpf_object__for_each_program(prog, object_) bpf_program__set_log_buf(prog, nullptr, 0);
  };
  // First load: every program gets a lazily committed slot. A retry after a
  // truncated log gives only the rejected program a (larger) buffer.
  size_t log_size = options.initial_log_size;
  std::string retry_program;
  for (;;) {
    std::optional<LazyLogs> lazy;
    std::unique_ptr<char[]> retry_log;
    if (retry_program.empty())
      lazy.emplace(program_count(object_), log_size);
    else
      retry_log.reset(new char[log_size]());
    std::vector<char*> logs;
    bpf_program* prog;
    bpf_object__for_each_program(prog, object_) {
      char* log = retry_program.empty() ? lazy->slot(logs.size())
                                        : (retry_program == bpf_program__name(prog) ? retry_log.get() : nullptr);
      logs.push_back(log);
      if (log) bpf_program__set_log_buf(prog, log, log_size);
    }
    int err = bpf_object__load(object_);
    const std::string unbound = detail::finish_tp_btf_binding();
    size_t i = 0;
    const char* failed_log = nullptr;
    bpf_program* failed = nullptr;
    bpf_object__for_each_program(prog, object_) {
      const char* log = logs[i++];
      if (!failed && log && bpf_program__fd(prog) < 0 && bpf_program__autoload(prog) && log[0] != '\0') {
        failed = prog;
        failed_log = log;
      }
    }
    if (err == 0) {
      clear_logs();
      loaded_ = true;
      return ok_status();
    }
    if (err == -EMFILE || err == -ENFILE) {
      clear_logs();
      return make_error(ErrorKind::resource, fd_exhaustion_message(name_, err), err);
    }
    if (!failed && !unbound.empty()) {
      clear_logs();
      return make_errno_error(err, fmt::format("loading BPF object {} failed: {}", name_, unbound));
    }
    if (!failed) {
      clear_logs();
      // A privileged process is refused too where the kernel will not take
      // a kind of program at all (this project's reference kernel refuses
      // fentry), and then the missing capability is the wrong advice.
      std::string hint = (err == -EPERM || err == -EACCES)
                             ? (may_load_bpf() ? " (this process may load BPF programs, so the kernel refuses a "
                                                 "program of this object for what it is: some kernels refuse "
                                                 "fentry/fexit, lockdown refuses some kinds; run with -v for "
                                                 "libbpf's details)"
                                               : " (loading BPF programs needs CAP_BPF and CAP_PERFMON, or root)")
                             : " (run with -v for libbpf's details)";
      return make_errno_error(err, fmt::format("loading BPF object {} failed: {}{}", name_, std::strerror(-err), hint));
    }
    std::string log(failed_log, ::strnlen(failed_log, log_size));
    // The kernel says ENOSPC when the log did not fit; the verifier's own
    // verdict is in the log, not in that errno.
    const bool truncated = err == -ENOSPC || log.size() + 1 >= log_size;
    if (truncated && log_size < options.max_log_size) {
      log_size = std::min(log_size * 4, options.max_log_size);
      retry_program = bpf_program__name(failed);
      log::debug("verifier log of {} was truncated; retrying with a {} KiB buffer", retry_program, log_size / 1024);
      clear_logs();
      if (auto reopened = reopen(); !reopened) return reopened;
      continue;
    }
    verifier_log_ = log;
    auto summary = summarize_verifier_log(log);
    // Older kernels (6.1) quote the source line without its file:line.
    if (!summary.source_line.empty() && summary.source_line.find(" @ ") == std::string::npos)
      if (auto where = source_location(elf_, bpf_object__btf(object_), summary.source_line); !where.empty())
        summary.source_line += " @ " + where;
    std::string reason = summary.reason.empty() ? std::string(std::strerror(-err)) : summary.reason;
    std::string message = fmt::format("the verifier rejected program '{}' (section {}) of {}: {}\n",
                                      bpf_program__name(failed), bpf_program__section_name(failed), name_, reason);
    if (!summary.source_line.empty()) message += fmt::format("  at: {}\n", summary.source_line);
    message += "verifier log (last lines):\n" + summary.tail;
    if (truncated)
      message += fmt::format("(the verifier log did not fit in {} bytes; these are its last lines)\n", log_size);
    message +=
        log::level() <= log::Level::debug ? "full verifier log:\n" + log : "(run with -v for the full verifier log)";
    clear_logs();
    Error rejected = make_error(ErrorKind::verifier, message, err);
    rejected.log = std::move(log);
    return rejected;
  }
}

}  // namespace ebpfrun::loader

#include "loader/object.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <optional>
#include <utility>

#include <fmt/format.h>

#include "common/libbpf_log.h"
#include "common/log.h"
#include "loader/core_btf.h"
#include "loader/internal/attach_target.h"
#include "loader/internal/pinning.h"
#include "loader/line_info.h"
#include "loader/verifier_log.h"

namespace ebpfrun::loader {
namespace {

uint32_t prog_id(int fd) {
  bpf_prog_info info{};
  uint32_t len = sizeof info;
  return fd >= 0 && bpf_obj_get_info_by_fd(fd, &info, &len) == 0 ? info.id : 0;
}

uint32_t map_id(int fd) {
  bpf_map_info info{};
  uint32_t len = sizeof info;
  return fd >= 0 && bpf_obj_get_info_by_fd(fd, &info, &len) == 0 ? info.id : 0;
}

bpf_object* open_elf(std::string_view elf, const std::string& name, const std::string& pin_directory,
                     const std::string& core_btf) {
  LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = name.c_str(), .pin_root_path = pin_directory.c_str(),
              .btf_custom_path = core_btf.empty() ? nullptr : core_btf.c_str());
  return bpf_object__open_mem(elf.data(), elf.size(), &opts);
}

}  // namespace

unsigned long long raise_open_file_limit() {
  struct rlimit limit {};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  if (limit.rlim_cur < limit.rlim_max) {
    struct rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  }
  return static_cast<unsigned long long>(limit.rlim_cur);
}

Result<Object> Object::open(std::string_view elf, const std::string& name, const OpenOptions& options) {
  return open_owned(std::string(elf), name, options);
}

Result<Object> Object::open_owned(std::string elf, const std::string& name, const OpenOptions& options) {
  log::route_libbpf_messages();
  if (auto valid = validate_pin_namespace(options.pin_namespace); !valid) return std::move(valid).take_error();
  std::string pin_directory = options.pin_root + "/" + options.pin_namespace;
  OpenOptions resolved = options;
  if (resolved.core_btf_path.empty()) resolved.core_btf_path = cached_core_btf(elf, resolved.core_btf_cache_dir);
  if (!resolved.core_btf_path.empty()) log::debug("{}: CO-RE relocations against {}", name, resolved.core_btf_path);
  bpf_object* object = open_elf(elf, name, pin_directory, resolved.core_btf_path);
  if (!object) {
    int err = errno;
    return make_error(ErrorKind::invalid_argument,
                      fmt::format("cannot open BPF object {}: {} (is it a BPF ELF file?)", name, std::strerror(err)),
                      err);
  }
  return Object(object, name, std::move(elf), std::move(resolved));
}

Object::Object(Object&& other) noexcept
    : object_(std::exchange(other.object_, nullptr)),
      name_(std::move(other.name_)),
      elf_(std::move(other.elf_)),
      options_(std::move(other.options_)),
      loaded_(std::exchange(other.loaded_, false)),
      verifier_log_(std::move(other.verifier_log_)),
      initial_writes_(std::move(other.initial_writes_)),
      attachments_(std::move(other.attachments_)),
      disabled_(std::move(other.disabled_)),
      optional_(std::move(other.optional_)),
      notes_(std::move(other.notes_)),
      variant_program_(std::move(other.variant_program_)),
      variant_(std::move(other.variant_)),
      maps_from_(std::exchange(other.maps_from_, nullptr)) {}

Object& Object::operator=(Object&& other) noexcept {
  if (this != &other) {
    close();
    object_ = std::exchange(other.object_, nullptr);
    name_ = std::move(other.name_);
    elf_ = std::move(other.elf_);
    options_ = std::move(other.options_);
    loaded_ = std::exchange(other.loaded_, false);
    verifier_log_ = std::move(other.verifier_log_);
    initial_writes_ = std::move(other.initial_writes_);
    attachments_ = std::move(other.attachments_);
    disabled_ = std::move(other.disabled_);
    optional_ = std::move(other.optional_);
    notes_ = std::move(other.notes_);
    variant_program_ = std::move(other.variant_program_);
    variant_ = std::move(other.variant_);
    maps_from_ = std::exchange(other.maps_from_, nullptr);
  }
  return *this;
}

Object::~Object() { close(); }

void Object::close() {
  // Links first: a link keeps its program alive in the kernel.
  while (!attachments_.empty()) attachments_.pop_back();
  if (!object_) return;
  bpf_object__close(object_);
  object_ = nullptr;
  loaded_ = false;
  log::debug("closed BPF object {}", name_);
}

std::vector<uint32_t> Object::attachment_link_ids() const {
  std::vector<uint32_t> out;
  for (const auto& a : attachments_)
    for (uint32_t id : a->link_ids())
      if (id) out.push_back(id);
  return out;
}

std::vector<int> Object::attachment_program_fds() const {
  std::vector<int> out;
  for (const auto& a : attachments_)
    for (int fd : a->program_fds()) out.push_back(fd);
  return out;
}

std::string Object::pin_directory() const { return options_.pin_root + "/" + options_.pin_namespace; }

Status Object::reopen() {
  bpf_object__close(object_);
  loaded_ = false;
  object_ = open_elf(elf_, name_, pin_directory(), options_.core_btf_path);
  if (!object_)
    return make_errno_error(errno, fmt::format("cannot reopen BPF object {}: {}", name_, std::strerror(errno)));
  // The fresh bpf_object has the ELF's initial values again.
  std::vector<InitialWrite> writes = std::move(initial_writes_);
  initial_writes_.clear();
  for (const auto& write : writes)
    if (auto redone = write_initial(find_map(write.map), write.offset, write.bytes); !redone) return redone;
  return prepare();
}

Status Object::prepare() {
  bpf_program* prog;
  bpf_object__for_each_program(prog, object_) {
    const std::string name = bpf_program__name(prog);
    bpf_program__set_autoload(prog, disabled_.count(name) == 0);
    if (variant_ && name == variant_program_) {
      bpf_program__set_type(prog, variant_->type);
      bpf_program__set_expected_attach_type(prog, variant_->expected_attach_type);
      if (!variant_->attach_target.empty() &&
          (!detail::kernel_btf_has_target(variant_->expected_attach_type, variant_->attach_target) ||
           bpf_program__set_attach_target(prog, 0, variant_->attach_target.c_str()) != 0)) {
        int err = errno;
        return make_errno_error(err, fmt::format("the kernel's BTF has no function or tracepoint \"{}\" to bind "
                                                 "program '{}' to ({})",
                                                 variant_->attach_target, name, std::strerror(err)));
      }
    }
  }
  if (!maps_from_) return ok_status();
  bpf_map* map;
  bpf_object__for_each_map(map, object_) {
    bpf_map* shared = maps_from_->find_map(bpf_map__name(map));
    if (shared && bpf_map__fd(shared) >= 0 && bpf_map__reuse_fd(map, bpf_map__fd(shared)) != 0)
      log::debug("{}: map {} of the variant could not share the loaded one's fd", name_, bpf_map__name(map));
  }
  return ok_status();
}

Status Object::write_initial(bpf_map* map, size_t offset, std::string_view bytes) {
  if (!object_ || loaded_ || !map)
    return make_error(ErrorKind::invalid_argument,
                      fmt::format("cannot set an initial value in BPF object {}: it is {}", name_,
                                  !object_ ? "closed" : (loaded_ ? "loaded already" : "missing the map")));
  size_t size = 0;
  const void* data = bpf_map__initial_value(map, &size);
  if (!data || offset > size || size - offset < bytes.size())
    return make_error(ErrorKind::invalid_argument,
                      fmt::format("map {} of BPF object {} has no room for an initial value at offset {}",
                                  bpf_map__name(map), name_, offset));
  // Through libbpf's setter rather than its (const, before 1.5) pointer.
  std::string value(static_cast<const char*>(data), size);
  value.replace(offset, bytes.size(), bytes);
  if (int err = bpf_map__set_initial_value(map, value.data(), value.size()); err != 0)
    return make_errno_error(err, fmt::format("cannot set the initial value of map {} of BPF object {}: {}",
                                             bpf_map__name(map), name_, std::strerror(-err)));
  initial_writes_.push_back({bpf_map__name(map), offset, std::string(bytes)});
  return ok_status();
}

Result<Object> Object::load_variant(std::string_view program, const ProgramVariant& variant) const {
  if (!loaded_) return make_error(ErrorKind::invalid_argument, fmt::format("BPF object {} is not loaded", name_));
  if (!find_program(program))
    return make_error(ErrorKind::not_found, fmt::format("BPF object {} has no program '{}'", name_, program));
  bpf_object* copy = open_elf(elf_, name_, pin_directory(), options_.core_btf_path);
  if (!copy)
    return make_errno_error(errno, fmt::format("cannot reopen BPF object {}: {}", name_, std::strerror(errno)));
  Object out(copy, name_, elf_, options_);
  out.variant_program_ = std::string(program);
  out.variant_ = variant;
  out.maps_from_ = this;
  bpf_program* prog;
  bpf_object__for_each_program(prog, copy) if (program != bpf_program__name(prog))
      out.disabled_.insert(bpf_program__name(prog));
  auto prepared = out.prepare();
  auto loaded = prepared ? out.load_once(LoadOptions{}) : std::move(prepared);
  // Only the load reads this object's maps; the copy then holds its own fds.
  out.maps_from_ = nullptr;
  if (!loaded) return std::move(loaded).take_error();
  return out;
}

Status Object::check_pinned_maps() const {
  bool any = false;
  bpf_map* map;
  bpf_object__for_each_map(map, object_) {
    const char* path = bpf_map__pin_path(map);
    if (!path) continue;
    any = true;
    if (auto compatible = check_pin_compatible(map, path); !compatible) return compatible;
  }
  return any ? prepare_pin_directory(pin_directory()) : ok_status();
}

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

std::vector<ProgramSummary> Object::programs() const {
  std::vector<ProgramSummary> out;
  if (!object_) return out;
  bpf_program* prog;
  bpf_object__for_each_program(prog, object_) {
    ProgramSummary s;
    s.name = bpf_program__name(prog);
    s.section = bpf_program__section_name(prog);
    const char* type = libbpf_bpf_prog_type_str(bpf_program__type(prog));
    s.type = type ? type : "unknown";
    s.instructions = bpf_program__insn_cnt(prog);
    s.fd = loaded_ ? bpf_program__fd(prog) : -1;
    s.id = prog_id(s.fd);
    s.autoload = bpf_program__autoload(prog);
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<MapSummary> Object::maps() const {
  std::vector<MapSummary> out;
  if (!object_) return out;
  bpf_map* map;
  bpf_object__for_each_map(map, object_) {
    MapSummary s;
    s.name = bpf_map__name(map);
    const char* type = libbpf_bpf_map_type_str(bpf_map__type(map));
    s.type = type ? type : "unknown";
    s.key_size = bpf_map__key_size(map);
    s.value_size = bpf_map__value_size(map);
    s.max_entries = bpf_map__max_entries(map);
    s.fd = loaded_ ? bpf_map__fd(map) : -1;
    s.id = map_id(s.fd);
    if (const char* pin = bpf_map__pin_path(map); pin && bpf_map__is_pinned(map)) s.pin_path = pin;
    out.push_back(std::move(s));
  }
  return out;
}

bpf_program* Object::find_program(std::string_view name) const {
  return object_ ? bpf_object__find_program_by_name(object_, std::string(name).c_str()) : nullptr;
}

bpf_map* Object::find_map(std::string_view name) const {
  return object_ ? bpf_object__find_map_by_name(object_, std::string(name).c_str()) : nullptr;
}

}  // namespace ebpfrun::loader

#include "loader/object.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <utility>

#include <fmt/format.h>

#include "common/libbpf_log.h"
#include "common/log.h"
#include "loader/internal/pinning.h"
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

bpf_object* open_elf(std::string_view elf, const std::string& name, const std::string& pin_directory) {
  LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = name.c_str(), .pin_root_path = pin_directory.c_str());
  return bpf_object__open_mem(elf.data(), elf.size(), &opts);
}

}  // namespace

Result<Object> Object::open(std::string_view elf, const std::string& name, const OpenOptions& options) {
  log::route_libbpf_messages();
  if (auto valid = validate_pin_namespace(options.pin_namespace); !valid) return std::move(valid).take_error();
  std::string pin_directory = options.pin_root + "/" + options.pin_namespace;
  bpf_object* object = open_elf(elf, name, pin_directory);
  if (!object) {
    int err = errno;
    return make_error(ErrorKind::invalid_argument,
                      fmt::format("cannot open BPF object {}: {} (is it a BPF ELF file?)", name, std::strerror(err)),
                      err);
  }
  return Object(object, name, std::string(elf), options);
}

Object::Object(Object&& other) noexcept
    : object_(std::exchange(other.object_, nullptr)),
      name_(std::move(other.name_)),
      elf_(std::move(other.elf_)),
      options_(std::move(other.options_)),
      loaded_(std::exchange(other.loaded_, false)),
      verifier_log_(std::move(other.verifier_log_)),
      attachments_(std::move(other.attachments_)) {}

Object& Object::operator=(Object&& other) noexcept {
  if (this != &other) {
    close();
    object_ = std::exchange(other.object_, nullptr);
    name_ = std::move(other.name_);
    elf_ = std::move(other.elf_);
    options_ = std::move(other.options_);
    loaded_ = std::exchange(other.loaded_, false);
    verifier_log_ = std::move(other.verifier_log_);
    attachments_ = std::move(other.attachments_);
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

std::string Object::pin_directory() const { return options_.pin_root + "/" + options_.pin_namespace; }

Status Object::reopen() {
  bpf_object__close(object_);
  object_ = open_elf(elf_, name_, pin_directory());
  if (!object_)
    return make_errno_error(errno, fmt::format("cannot reopen BPF object {}: {}", name_, std::strerror(errno)));
  return ok_status();
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

Status Object::load(const LoadOptions& options) {
  if (!object_) return make_error(ErrorKind::invalid_argument, fmt::format("BPF object {} is closed", name_));
  if (loaded_) return ok_status();
  if (auto pins = check_pinned_maps(); !pins) return pins;

  size_t log_size = options.initial_log_size;
  for (;;) {
    std::vector<std::unique_ptr<char[]>> logs;
    bpf_program* prog;
    bpf_object__for_each_program(prog, object_) {
      logs.push_back(std::make_unique<char[]>(log_size));
      bpf_program__set_log_buf(prog, logs.back().get(), log_size);
    }
    int err = bpf_object__load(object_);
    // libbpf keeps only a pointer to each buffer; drop them before they go away.
    size_t i = 0;
    const char* failed_log = nullptr;
    bpf_program* failed = nullptr;
    bpf_object__for_each_program(prog, object_) {
      const char* log = logs[i++].get();
      if (!failed && bpf_program__fd(prog) < 0 && bpf_program__autoload(prog) && log[0] != '\0') {
        failed = prog;
        failed_log = log;
      }
    }
    if (err == 0) {
      bpf_object__for_each_program(prog, object_) bpf_program__set_log_buf(prog, nullptr, 0);
      loaded_ = true;
      return ok_status();
    }
    if (!failed) {
      bpf_object__for_each_program(prog, object_) bpf_program__set_log_buf(prog, nullptr, 0);
      std::string hint = (err == -EPERM || err == -EACCES)
                             ? " (loading BPF programs needs CAP_BPF and CAP_PERFMON, or root)"
                             : " (run with -v for libbpf's details)";
      return make_errno_error(err, fmt::format("loading BPF object {} failed: {}{}", name_, std::strerror(-err), hint));
    }
    std::string log(failed_log);
    const bool truncated = log.size() + 1 >= log_size;
    if (truncated && log_size < options.max_log_size) {
      log_size = std::min(log_size * 4, options.max_log_size);
      log::debug("verifier log of {} was truncated; retrying with a {} KiB buffer", bpf_program__name(failed),
                 log_size / 1024);
      if (auto reopened = reopen(); !reopened) return reopened;
      continue;
    }
    verifier_log_ = log;
    auto summary = summarize_verifier_log(log);
    std::string message =
        fmt::format("the verifier rejected program '{}' (section {}) of {}: {}\n", bpf_program__name(failed),
                    bpf_program__section_name(failed), name_, std::strerror(-err));
    if (!summary.source_line.empty()) message += fmt::format("  at: {}\n", summary.source_line);
    message += "verifier log (last lines):\n" + summary.tail;
    message +=
        log::level() <= log::Level::debug ? "full verifier log:\n" + log : "(run with -v for the full verifier log)";
    bpf_object__for_each_program(prog, object_) bpf_program__set_log_buf(prog, nullptr, 0);
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

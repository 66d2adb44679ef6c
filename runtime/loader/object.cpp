#include "loader/object.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/resource.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include <fmt/format.h>

#include "common/libbpf_log.h"
#include "common/log.h"
#include "loader/core_btf.h"
#include "loader/internal/attach_target.h"
#include "loader/internal/kernel_btf.h"
#include "loader/internal/pinning.h"
#include "loader/internal/tp_btf_targets.h"

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
  detail::bind_tp_btf_programs_here();
  {
    // The kernel BTF, when this open needs it whole, is read once for both
    // and released before the load.
    detail::KernelBtf kernel(resolved.core_btf_cache_dir);
    detail::learn_tp_btf_targets(elf, kernel);
    if (resolved.core_btf_path.empty()) resolved.core_btf_path = cached_core_btf(elf, kernel);
  }
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

std::vector<ProgramSummary> Object::programs() const {
  std::vector<ProgramSummary> out;
  if (!object_) return out;
  bpf_program* prog;
  bpf_object__for_each_program(prog, object_) {
    ProgramSummary s;
    s.name = bpf_program__name(prog);
    s.section = bpf_program__section_name(prog);
    const char* type = libbpf_bpf_prog_type_str(detail::load_type(prog));
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

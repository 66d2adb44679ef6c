#include "loader/object.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <utility>

#include <fmt/format.h>

#include "common/log.h"

namespace ebpfrun::loader {
namespace {

int libbpf_print(enum libbpf_print_level level, const char* format, va_list args) {
  // libbpf is chatty at debug level; its warnings are still only interesting
  // with -v because every failure is also reported through our own errors.
  if (level == LIBBPF_DEBUG && log::level() > log::Level::debug) return 0;
  if (log::level() > log::Level::debug) return 0;
  char buf[1024];
  int n = std::vsnprintf(buf, sizeof buf, format, args);
  log::write(log::Level::debug, fmt::format("{}", std::string_view(buf, n < 0 ? 0 : std::min<size_t>(n, sizeof buf - 1))));
  return n;
}

uint32_t id_of(int fd, bool is_prog) {
  if (fd < 0) return 0;
  if (is_prog) {
    bpf_prog_info info{};
    uint32_t len = sizeof info;
    return bpf_obj_get_info_by_fd(fd, &info, &len) == 0 ? info.id : 0;
  }
  bpf_map_info info{};
  uint32_t len = sizeof info;
  return bpf_obj_get_info_by_fd(fd, &info, &len) == 0 ? info.id : 0;
}

}  // namespace

void route_libbpf_messages() { libbpf_set_print(libbpf_print); }

Result<Object> Object::open(std::string_view elf, const std::string& name) {
  route_libbpf_messages();
  LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = name.c_str());
  bpf_object* object = bpf_object__open_mem(elf.data(), elf.size(), &opts);
  if (!object) {
    int err = errno;
    return make_error(fmt::format("cannot open BPF object {}: {}", name, std::strerror(err)));
  }
  return Object(object, name);
}

Object::Object(Object&& other) noexcept
    : object_(std::exchange(other.object_, nullptr)), name_(std::move(other.name_)), loaded_(other.loaded_) {}

Object& Object::operator=(Object&& other) noexcept {
  if (this != &other) {
    close();
    object_ = std::exchange(other.object_, nullptr);
    name_ = std::move(other.name_);
    loaded_ = other.loaded_;
  }
  return *this;
}

Object::~Object() { close(); }

void Object::close() {
  if (!object_) return;
  bpf_object__close(object_);
  object_ = nullptr;
  loaded_ = false;
  log::debug("closed BPF object {}", name_);
}

Status Object::load() {
  if (!object_) return make_error(fmt::format("BPF object {} is closed", name_));
  if (int err = bpf_object__load(object_); err != 0)
    return make_error(fmt::format("loading BPF object {} failed: {}", name_, std::strerror(-err)));
  loaded_ = true;
  return ok_status();
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
    s.id = id_of(s.fd, true);
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
    s.id = id_of(s.fd, false);
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace ebpfrun::loader

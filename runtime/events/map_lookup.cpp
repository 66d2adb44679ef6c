#include "events/internal/map_lookup.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "loader/object.h"

namespace ebpfrun::events {

std::string map_type_name(uint32_t type) {
  const char* name = libbpf_bpf_map_type_str(static_cast<bpf_map_type>(type));
  return name ? name : fmt::format("type {}", type);
}

Result<bpf_map_info> map_info(int fd, const std::string& name) {
  bpf_map_info info{};
  uint32_t length = sizeof info;
  if (bpf_obj_get_info_by_fd(fd, &info, &length) != 0) {
    int err = errno;
    return make_errno_error(err, fmt::format("cannot query BPF map {} (fd {}): {}; pass the fd of a live BPF map.",
                                             name, fd, std::strerror(err)));
  }
  return info;
}

Result<UniqueFd> duplicate_fd(int fd, const std::string& name) {
  int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
  if (copy < 0) {
    int err = errno;
    return make_errno_error(err, fmt::format("cannot duplicate the fd of BPF map {}: {}.", name, std::strerror(err)));
  }
  return UniqueFd(copy);
}

Result<int> find_map_fd(const loader::Object& object, const std::string& name, bpf_map_type type) {
  bpf_object* raw = object.raw();
  if (!raw)
    return make_error(ErrorKind::invalid_argument,
                      fmt::format("BPF object {} is closed, so its map {} cannot be read.", object.name(), name));
  bpf_map* map = bpf_object__find_map_by_name(raw, name.c_str());
  if (!map) {
    std::string candidates;
    bpf_map* m;
    bpf_object__for_each_map(m, raw) {
      if (bpf_map__type(m) != type) continue;
      candidates += candidates.empty() ? "" : ", ";
      candidates += bpf_map__name(m);
    }
    return make_error(ErrorKind::not_found,
                      fmt::format("BPF object {} has no map named {}; its {} maps are: {}.", object.name(), name,
                                  map_type_name(type), candidates.empty() ? "none" : candidates));
  }
  if (bpf_map__type(map) != type)
    return make_error(ErrorKind::invalid_argument,
                      fmt::format("map {} of BPF object {} is a {} map, not a {} map.", name, object.name(),
                                  map_type_name(bpf_map__type(map)), map_type_name(type)));
  int fd = bpf_map__fd(map);
  if (fd < 0)
    return make_error(ErrorKind::invalid_argument,
                      fmt::format("BPF object {} is not loaded, so its map {} does not exist yet; load the object "
                                  "before reading events from it.",
                                  object.name(), name));
  return fd;
}

std::optional<int> find_optional_map_fd(const loader::Object& object, const std::string& name) {
  if (!object.raw()) return std::nullopt;
  bpf_map* map = bpf_object__find_map_by_name(object.raw(), name.c_str());
  if (!map || bpf_map__fd(map) < 0) return std::nullopt;
  return bpf_map__fd(map);
}

}  // namespace ebpfrun::events

#include "loader/internal/pinning.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "common/files.h"

namespace ebpfrun::loader {
namespace {

constexpr long kBpfFsMagic = 0xcafe4a11;

std::string describe(const char* type, uint32_t key, uint32_t value, uint32_t entries, uint32_t flags) {
  return fmt::format("{}, key {} B, value {} B, {} entries, flags {:#x}", type ? type : "unknown", key, value, entries,
                     flags);
}

}  // namespace

Status validate_pin_namespace(const std::string& name) {
  if (name.empty() || name == "." || name == "..")
    return make_error(ErrorKind::invalid_argument, fmt::format("invalid pin namespace '{}'", name));
  for (char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.'))
      return make_error(ErrorKind::invalid_argument,
                        fmt::format("invalid pin namespace '{}': use letters, digits, '_', '-' and '.' only", name));
  return ok_status();
}

Status prepare_pin_directory(const std::string& directory) {
  struct statfs fs {};
  if (::statfs("/sys/fs/bpf", &fs) != 0 || fs.f_type != kBpfFsMagic)
    return make_error(ErrorKind::not_supported,
                      "bpffs is not mounted at /sys/fs/bpf, so maps cannot be pinned; mount it with "
                      "`mount -t bpf bpf /sys/fs/bpf`");
  return files::make_dirs(directory, 0700);
}

Status check_pin_compatible(const bpf_map* map, const std::string& path) {
  if (!files::exists(path)) return ok_status();
  int fd = bpf_obj_get(path.c_str());
  if (fd < 0)
    return make_errno_error(
        errno, fmt::format("cannot open pinned map {}: {}; remove it if it is stale", path, std::strerror(errno)));
  bpf_map_info info{};
  uint32_t len = sizeof info;
  int err = bpf_obj_get_info_by_fd(fd, &info, &len);
  ::close(fd);
  if (err != 0) return make_error(ErrorKind::busy, fmt::format("{} is pinned but is not a BPF map", path));
  const auto want_type = bpf_map__type(map);
  if (info.type != static_cast<uint32_t>(want_type) || info.key_size != bpf_map__key_size(map) ||
      info.value_size != bpf_map__value_size(map) || info.max_entries != bpf_map__max_entries(map) ||
      info.map_flags != bpf_map__map_flags(map)) {
    return make_error(
        ErrorKind::busy,
        fmt::format("the map pinned at {} ({}) does not match map '{}' of this program ({}); remove the pin "
                    "(`rm {}`) or load into another pin namespace",
                    path,
                    describe(libbpf_bpf_map_type_str(static_cast<bpf_map_type>(info.type)), info.key_size,
                             info.value_size, info.max_entries, info.map_flags),
                    bpf_map__name(map),
                    describe(libbpf_bpf_map_type_str(want_type), bpf_map__key_size(map), bpf_map__value_size(map),
                             bpf_map__max_entries(map), bpf_map__map_flags(map)),
                    path));
  }
  return ok_status();
}

}  // namespace ebpfrun::loader

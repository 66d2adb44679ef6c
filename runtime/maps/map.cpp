#include "maps/map.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include <fmt/format.h>

#include "common/log.h"

namespace ebpfrun::maps {
namespace {

bool is_per_cpu(uint32_t type) {
  return type == BPF_MAP_TYPE_PERCPU_HASH || type == BPF_MAP_TYPE_PERCPU_ARRAY ||
         type == BPF_MAP_TYPE_LRU_PERCPU_HASH || type == BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE;
}

bool is_array(uint32_t type) { return type == BPF_MAP_TYPE_ARRAY || type == BPF_MAP_TYPE_PERCPU_ARRAY; }

std::string errno_text(const MapInfo& info, const char* what) {
  return fmt::format("{} on map '{}' failed: {}", what, info.name, std::strerror(errno));
}

}  // namespace

int Map::possible_cpus() {
  static const int n = libbpf_num_possible_cpus();
  return n > 0 ? n : 1;
}

Result<Map> Map::from_object_map(const bpf_map* map, const struct btf* btf) {
  int fd = bpf_map__fd(map);
  if (fd < 0)
    return make_error(ErrorKind::invalid_argument, fmt::format("map '{}' is not loaded yet", bpf_map__name(map)));
  MapInfo info;
  info.name = bpf_map__name(map);
  info.type = bpf_map__type(map);
  const char* type_name = libbpf_bpf_map_type_str(bpf_map__type(map));
  info.type_name = type_name ? type_name : "unknown";
  info.key_size = bpf_map__key_size(map);
  info.value_size = bpf_map__value_size(map);
  info.max_entries = bpf_map__max_entries(map);
  info.flags = bpf_map__map_flags(map);
  info.per_cpu = is_per_cpu(info.type);
  info.btf = btf;
  info.btf_key_type_id = bpf_map__btf_key_type_id(map);
  info.btf_value_type_id = bpf_map__btf_value_type_id(map);
  bpf_map_info kernel{};
  uint32_t len = sizeof kernel;
  if (bpf_obj_get_info_by_fd(fd, &kernel, &len) == 0) info.id = kernel.id;
  return Map(fd, false, std::move(info));
}

Result<Map> Map::open_pinned(const std::string& path) {
  int fd = bpf_obj_get(path.c_str());
  if (fd < 0) return make_errno_error(errno, fmt::format("cannot open pinned map {}: {}", path, std::strerror(errno)));
  bpf_map_info kernel{};
  uint32_t len = sizeof kernel;
  if (bpf_obj_get_info_by_fd(fd, &kernel, &len) != 0) {
    ::close(fd);
    return make_error(ErrorKind::invalid_argument, fmt::format("{} is pinned but is not a BPF map", path));
  }
  MapInfo info;
  info.name = kernel.name;
  info.type = kernel.type;
  const char* type_name = libbpf_bpf_map_type_str(static_cast<bpf_map_type>(kernel.type));
  info.type_name = type_name ? type_name : "unknown";
  info.key_size = kernel.key_size;
  info.value_size = kernel.value_size;
  info.max_entries = kernel.max_entries;
  info.flags = kernel.map_flags;
  info.id = kernel.id;
  info.per_cpu = is_per_cpu(info.type);
  info.btf_key_type_id = kernel.btf_key_type_id;
  info.btf_value_type_id = kernel.btf_value_type_id;
  return Map(fd, true, std::move(info));
}

Map::Map(Map&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      owns_fd_(std::exchange(other.owns_fd_, false)),
      info_(std::move(other.info_)) {}

Map& Map::operator=(Map&& other) noexcept {
  if (this != &other) {
    if (owns_fd_ && fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    owns_fd_ = std::exchange(other.owns_fd_, false);
    info_ = std::move(other.info_);
  }
  return *this;
}

Map::~Map() {
  if (owns_fd_ && fd_ >= 0) ::close(fd_);
}

size_t Map::user_value_size() const {
  if (!info_.per_cpu) return info_.value_size;
  return ((info_.value_size + 7) / 8 * 8) * static_cast<size_t>(possible_cpus());
}

Result<std::optional<std::string>> Map::lookup(std::string_view key) const {
  if (key.size() != info_.key_size)
    return make_error(ErrorKind::invalid_argument,
                      fmt::format("key for map '{}' must be {} bytes, got {}", info_.name, info_.key_size, key.size()));
  std::string value(user_value_size(), '\0');
  if (bpf_map_lookup_elem(fd_, key.data(), value.data()) != 0) {
    if (errno == ENOENT) return std::optional<std::string>();
    return make_errno_error(errno, errno_text(info_, "lookup"));
  }
  return std::optional<std::string>(std::move(value));
}

Status Map::update(std::string_view key, std::string_view value, uint64_t flags) const {
  if (key.size() != info_.key_size || value.size() != user_value_size())
    return make_error(ErrorKind::invalid_argument,
                      fmt::format("map '{}' takes {}-byte keys and {}-byte values, got {} and {}", info_.name,
                                  info_.key_size, user_value_size(), key.size(), value.size()));
  if (bpf_map_update_elem(fd_, key.data(), value.data(), flags) != 0) {
    if (errno == E2BIG)
      return make_error(ErrorKind::resource,
                        fmt::format("map '{}' is full ({} entries)", info_.name, info_.max_entries));
    if (errno == EEXIST) return make_error(ErrorKind::busy, fmt::format("key already exists in map '{}'", info_.name));
    return make_errno_error(errno, errno_text(info_, "update"));
  }
  return ok_status();
}

Result<bool> Map::erase(std::string_view key) const {
  if (key.size() != info_.key_size)
    return make_error(ErrorKind::invalid_argument,
                      fmt::format("key for map '{}' must be {} bytes, got {}", info_.name, info_.key_size, key.size()));
  if (is_array(info_.type)) {
    return make_error(
        ErrorKind::invalid_argument,
        fmt::format("map '{}' is an array, whose elements cannot be deleted; update it with zeros", info_.name));
  }
  if (bpf_map_delete_elem(fd_, key.data()) != 0) {
    if (errno == ENOENT) return false;
    return make_errno_error(errno, errno_text(info_, "delete"));
  }
  return true;
}

Result<std::vector<std::string>> Map::keys() const {
  std::vector<std::string> out;
  std::string key(info_.key_size, '\0'), next(info_.key_size, '\0');
  const void* previous = nullptr;
  for (;;) {
    if (bpf_map_get_next_key(fd_, previous, next.data()) != 0) {
      if (errno == ENOENT) return out;
      return make_errno_error(errno, errno_text(info_, "iterate"));
    }
    out.push_back(next);
    key = next;
    previous = key.data();
    // A map being refilled while we walk it must not keep us here forever.
    if (out.size() > static_cast<size_t>(info_.max_entries) * 2) return out;
  }
}

Result<std::vector<Entry>> Map::entries_by_iteration(bool and_delete) const {
  auto all_keys = keys();
  if (!all_keys) return std::move(all_keys).take_error();
  std::vector<Entry> out;
  const std::string zero(user_value_size(), '\0');
  for (auto& key : *all_keys) {
    auto value = lookup(key);
    if (!value) return std::move(value).take_error();
    if (!value->has_value()) continue;  // deleted since we listed it
    out.push_back({key, std::move(**value)});
    if (!and_delete) continue;
    if (is_array(info_.type)) {
      if (auto zeroed = update(key, zero); !zeroed) return std::move(zeroed).take_error();
    } else if (auto erased = erase(key); !erased) {
      return std::move(erased).take_error();
    }
  }
  return out;
}

Result<std::vector<Entry>> Map::entries_by_batch(bool and_delete, bool& unsupported) const {
  unsupported = false;
  const uint32_t chunk = std::max<uint32_t>(1, std::min<uint32_t>(info_.max_entries, 4096));
  const size_t value_size = user_value_size();
  std::string keys(static_cast<size_t>(chunk) * info_.key_size, '\0');
  std::string values(static_cast<size_t>(chunk) * value_size, '\0');
  // The batch cursor is opaque: a bucket index for hash maps, a key for the
  // generic implementation; key_size bytes (at least 8) hold either.
  std::string in_batch(std::max<size_t>(info_.key_size, 8), '\0'), out_batch(in_batch.size(), '\0');
  bool first = true;
  std::vector<Entry> out;
  LIBBPF_OPTS(bpf_map_batch_opts, opts);
  for (;;) {
    uint32_t count = chunk;
    int err = and_delete ? bpf_map_lookup_and_delete_batch(fd_, first ? nullptr : in_batch.data(), out_batch.data(),
                                                           keys.data(), values.data(), &count, &opts)
                         : bpf_map_lookup_batch(fd_, first ? nullptr : in_batch.data(), out_batch.data(), keys.data(),
                                                values.data(), &count, &opts);
    int saved = errno;
    for (uint32_t i = 0; i < count && (err == 0 || saved == ENOENT); ++i)
      out.push_back({keys.substr(i * info_.key_size, info_.key_size), values.substr(i * value_size, value_size)});
    if (err != 0) {
      if (saved == ENOENT) return out;  // done
      if (saved == EINVAL || saved == ENOTSUP || saved == EOPNOTSUPP || saved == 524 /* ENOTSUPP */) {
        unsupported = first;
        if (unsupported) return out;
      }
      errno = saved;
      return make_errno_error(errno, errno_text(info_, and_delete ? "batch lookup-and-delete" : "batch lookup"));
    }
    in_batch = out_batch;
    first = false;
  }
}

Result<std::vector<Entry>> Map::entries(bool and_delete) const {
  // Arrays cannot delete, so their "read and reset" is iterate + zero.
  if (!(and_delete && is_array(info_.type))) {
    bool unsupported = false;
    auto batched = entries_by_batch(and_delete, unsupported);
    if (!unsupported) return batched;
    log::debug("map '{}' ({}) has no batch operations here; iterating", info_.name, info_.type_name);
  }
  return entries_by_iteration(and_delete);
}

Result<uint32_t> Map::count() const {
  const uint32_t chunk = std::max<uint32_t>(1, std::min<uint32_t>(info_.max_entries, 4096));
  // The values are read only because the batch call writes them; one buffer
  // of a chunk's size is reused for every batch.
  std::string keys(static_cast<size_t>(chunk) * info_.key_size, '\0');
  std::string values(static_cast<size_t>(chunk) * user_value_size(), '\0');
  std::string in_batch(std::max<size_t>(info_.key_size, 8), '\0'), out_batch(in_batch.size(), '\0');
  LIBBPF_OPTS(bpf_map_batch_opts, opts);
  uint32_t total = 0;
  for (bool first = true;; first = false) {
    uint32_t n = chunk;
    int err = bpf_map_lookup_batch(fd_, first ? nullptr : in_batch.data(), out_batch.data(), keys.data(), values.data(),
                                   &n, &opts);
    int saved = errno;
    if (err == 0 || saved == ENOENT) total += n;
    if (err == 0) {
      in_batch = out_batch;
      if (total <= info_.max_entries) continue;
      return total;
    }
    if (saved == ENOENT) return total;
    if (first && (saved == EINVAL || saved == ENOTSUP || saved == EOPNOTSUPP || saved == 524 /* ENOTSUPP */)) break;
    return make_errno_error(saved, errno_text(info_, "batch lookup"));
  }
  // No batch operations for this map type on this kernel: walk the keys.
  std::string key(info_.key_size, '\0'), next(info_.key_size, '\0');
  const void* previous = nullptr;
  while (total <= info_.max_entries && bpf_map_get_next_key(fd_, previous, next.data()) == 0) {
    ++total;
    key.swap(next);
    previous = key.data();
  }
  return total;
}

Status Map::clear() const {
  auto removed = entries_by_iteration(/*and_delete=*/true);
  if (!removed) return std::move(removed).take_error();
  return ok_status();
}

std::vector<uint64_t> Map::sum_per_cpu_u64(std::string_view value) const {
  const size_t stride = (info_.value_size + 7) / 8 * 8;
  std::vector<uint64_t> sums(info_.value_size / 8, 0);
  for (size_t cpu = 0; (cpu + 1) * stride <= value.size(); ++cpu)
    for (size_t f = 0; f < sums.size(); ++f) {
      uint64_t v;
      std::memcpy(&v, value.data() + cpu * stride + f * 8, 8);
      sums[f] += v;
    }
  return sums;
}

Status Map::pin(const std::string& path) const {
  if (bpf_obj_pin(fd_, path.c_str()) != 0)
    return make_errno_error(errno,
                            fmt::format("cannot pin map '{}' at {}: {}", info_.name, path, std::strerror(errno)));
  return ok_status();
}

Status Map::unpin(const std::string& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT)
    return make_errno_error(errno, fmt::format("cannot unpin {}: {}", path, std::strerror(errno)));
  return ok_status();
}

}  // namespace ebpfrun::maps

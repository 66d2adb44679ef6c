// runtime/maps — a handle on one BPF map: typed metadata from BTF, element
// operations, iteration, batch reads, per-CPU values, pinning.
//
// A Map either borrows the fd of a map owned by a loaded loader::Object (valid
// while that Object is open) or owns an fd it opened from a pin. Keys and
// values are raw bytes here; the Lua layer turns them into typed cdata using
// the BTF type ids in MapInfo.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

struct bpf_map;
struct btf;

namespace ebpfrun::maps {

struct MapInfo {
  std::string name;
  uint32_t type = 0;      // enum bpf_map_type
  std::string type_name;  // e.g. "percpu_hash"
  uint32_t key_size = 0;
  uint32_t value_size = 0;  // per CPU for per-CPU maps
  uint32_t max_entries = 0;
  uint32_t flags = 0;
  uint32_t id = 0;
  bool per_cpu = false;
  const struct btf* btf = nullptr;  // the object's BTF, or null
  uint32_t btf_key_type_id = 0;
  uint32_t btf_value_type_id = 0;
};

struct Entry {
  std::string key;
  std::string value;  // for per-CPU maps: one value per possible CPU, each padded to 8 bytes
};

class Map {
 public:
  // Borrows a map of a loaded object.
  static Result<Map> from_object_map(const bpf_map* map, const struct btf* btf);
  // Opens a pinned map; the handle owns the fd.
  static Result<Map> open_pinned(const std::string& path);
  Map(Map&& other) noexcept;
  Map& operator=(Map&& other) noexcept;
  Map(const Map&) = delete;
  Map& operator=(const Map&) = delete;
  ~Map();

  const MapInfo& info() const { return info_; }
  int fd() const { return fd_; }
  // Size of one value as user space sees it (all CPUs for per-CPU maps).
  size_t user_value_size() const;
  static int possible_cpus();

  // nullopt when the key is absent.
  Result<std::optional<std::string>> lookup(std::string_view key) const;
  // flags: BPF_ANY, BPF_NOEXIST, BPF_EXIST.
  Status update(std::string_view key, std::string_view value, uint64_t flags = 0) const;
  // false when the key was absent.
  Result<bool> erase(std::string_view key) const;
  Result<std::vector<std::string>> keys() const;
  // Every entry, with the batch syscalls when the kernel supports them for this
  // map type, else by iterating keys. and_delete empties hash maps as it reads
  // (atomically per entry with batches) and zeroes arrays, which cannot delete.
  Result<std::vector<Entry>> entries(bool and_delete = false) const;
  // How many entries a hash map holds, counted on the fd (the kernel keeps no
  // count that an unprivileged holder of the fd can read): in batches of up
  // to 4096 where the kernel has batch lookups, one syscall per key
  // otherwise. Stops counting at max_entries + 1.
  Result<uint32_t> count() const;

  // Removes every entry (zeroes every element of an array).
  Status clear() const;

  // Sums a per-CPU value of u64 counters into one u64 per field offset (value_size/8 fields).
  std::vector<uint64_t> sum_per_cpu_u64(std::string_view value) const;

  Status pin(const std::string& path) const;
  static Status unpin(const std::string& path);

 private:
  Map(int fd, bool owns_fd, MapInfo info) : fd_(fd), owns_fd_(owns_fd), info_(std::move(info)) {}
  Result<std::vector<Entry>> entries_by_iteration(bool and_delete) const;
  Result<std::vector<Entry>> entries_by_batch(bool and_delete, bool& unsupported) const;

  int fd_ = -1;
  bool owns_fd_ = false;
  MapInfo info_;
};

}  // namespace ebpfrun::maps

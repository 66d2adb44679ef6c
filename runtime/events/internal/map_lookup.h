// Finding and checking the maps event readers read from.
//
// Both readers take a map by name from a loaded object, check that it is the
// kind of map they can read (a clear error beats a confusing libbpf failure),
// and keep their own duplicate of its fd.
#pragma once

#include <linux/bpf.h>

#include <optional>
#include <string>

#include "common/result.h"
#include "events/unique_fd.h"

namespace ebpfrun::loader {
class Object;
}

namespace ebpfrun::events {

// The kernel's description of the map behind `fd`.
Result<bpf_map_info> map_info(int fd, const std::string& name);

// A duplicate of `fd` (close-on-exec) that the reader owns.
Result<UniqueFd> duplicate_fd(int fd, const std::string& name);

// The fd of map `name` in a loaded object, checked to be of type `type`. When
// the map is missing, the error names the maps of that type the object has.
Result<int> find_map_fd(const loader::Object& object, const std::string& name, bpf_map_type type);

// The fd of map `name` when the object has one (of any type), else nothing.
std::optional<int> find_optional_map_fd(const loader::Object& object, const std::string& name);

// "ringbuf", "perf_event_array", ... for messages.
std::string map_type_name(uint32_t type);

}  // namespace ebpfrun::events

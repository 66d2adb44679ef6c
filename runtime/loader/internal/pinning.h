// Pinning maps in bpffs. libbpf pins maps marked LIBBPF_PIN_BY_NAME under the
// object's pin root and reuses an existing pin, but refuses an incompatible one
// with a bare EINVAL; these helpers check first and say exactly what differs.
#pragma once

#include <string>

#include "common/result.h"

struct bpf_map;

namespace ebpfrun::loader {

// Namespaces become directory names: letters, digits, '_', '-', '.'.
Status validate_pin_namespace(const std::string& name);
// Creates the pin directory (mode 0700); says how to mount bpffs if it is missing.
Status prepare_pin_directory(const std::string& directory);
// When `path` exists, checks the pinned map matches `map`'s definition.
Status check_pin_compatible(const bpf_map* map, const std::string& path);

}  // namespace ebpfrun::loader

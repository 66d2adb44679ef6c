// The project's BPF-side headers (bpf/*.h), compiled into the binary so that a
// probe can `#include "ebpfrun.h"` wherever ebpfrun is installed. The contents
// are generated at build time from bpf/ (see CMakeLists.txt).
#pragma once

#include <string_view>
#include <vector>

namespace ebpfrun::compiler {

struct EmbeddedHeader {
  std::string_view name;  // file name relative to the virtual include directory
  std::string_view contents;
};

const std::vector<EmbeddedHeader>& embedded_headers();

}  // namespace ebpfrun::compiler

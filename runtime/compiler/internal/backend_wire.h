// Serialization of BackendResult for the pipe between the compile child and
// the host (see backend_loader.h). Length-prefixed fields; both ends are the
// same binary, so no versioning is needed.
#pragma once

#include <string>

#include "compiler/internal/backend_api.h"

namespace ebpfrun::compiler {

std::string encode_result(const BackendResult& result);
// False when the bytes are truncated or malformed.
bool decode_result(std::string_view bytes, BackendResult& result);

}  // namespace ebpfrun::compiler

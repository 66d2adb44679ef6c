// Finds the clang backend (libebpfrun-clang.so) and runs compiles with it.
//
// Every compile runs in a forked child that dlopens the backend, compiles, and
// sends the result back over a pipe. Three reasons: LLVM 16's BPF backend keeps
// process-global state across modules (BPFAbstractMemberAccess's GEPGlobals
// map holds pointers into the previous module, so a second CO-RE compile in
// one process reads freed memory); a crash inside clang must not take the host
// down with it; and the host (a REPL, an exporter daemon) never pays LLVM's
// ~70 MB of RSS.
#pragma once

#include <string>

#include "common/result.h"
#include "compiler/internal/backend_api.h"

namespace ebpfrun::compiler {

// Where the backend library is: $EBPFRUN_COMPILER_LIB, else beside the
// executable, else ../lib/ebpfrun/ relative to it. Does not load it.
Result<std::string> backend_library_path();

// A fingerprint of the backend library file (path, size, mtime), part of the
// object-cache key so that a rebuilt compiler never serves stale objects.
std::string backend_fingerprint();

// Compiles in a child process. Failures to start, load the backend or a crash
// of the child are reported in result.failure.
void compile_in_child(const BackendRequest& request, BackendResult& result);

}  // namespace ebpfrun::compiler

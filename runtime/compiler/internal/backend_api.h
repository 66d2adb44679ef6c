// The interface between the host and the clang backend shared library
// (libebpfrun-clang.so). The backend is dlopen'ed only on an object-cache miss,
// so that a warm run never maps LLVM (~70 MB RSS and tens of ms to load).
// Both sides are built from this tree with the same compiler and standard
// library, so C++ types may cross the boundary; exceptions may not, and the
// backend catches everything.
#pragma once

#include <string>
#include <vector>

#include "compiler/diagnostics.h"

namespace ebpfrun::compiler {

// Bumped whenever BackendRequest or BackendResult change shape.
inline constexpr int kBackendAbiVersion = 2;

struct VirtualFile {
  std::string path;  // absolute path inside the compiler's in-memory file system
  std::string contents;
};

struct BackendRequest {
  std::string main_path;    // absolute; may shadow a real file of that name
  std::string main_source;  // the source after /*FILTER*/ substitution
  std::vector<VirtualFile> virtual_files;
  std::vector<std::string> include_dirs;         // user -I, searched in order
  std::vector<std::string> system_include_dirs;  // -isystem, after user dirs
  std::vector<std::string> after_include_dirs;   // -idirafter
  std::vector<std::string> defines;              // NAME or NAME=VALUE
  std::vector<std::string> base_defines;         // always set, also when building the PCH
  std::string resource_dir;                      // clang's builtin headers
  std::string prelude_path;                      // header the PCH is built from
  // The precompiled header lives only in the compiler's in-memory file system
  // at pch_path: clang never maps a cache file that another process could
  // rewrite or truncate under it. pch_bytes is a PCH the host read and
  // verified; when empty, the backend builds one first.
  std::string pch_path;  // empty: compile without a PCH
  std::string pch_bytes;
  bool return_pch = false;  // send a PCH built here back for the cache
};

struct BackendResult {
  bool ok = false;
  std::string object;  // the BPF ELF
  std::vector<Diagnostic> diagnostics;
  std::vector<std::string> dependencies;  // real files read, for cache validation
  std::string failure;                    // a failure that is not a diagnostic
  bool pch_unreadable = false;            // clang could not read the precompiled header (stale or damaged)
  std::string pch_bytes;                  // the PCH built by this compile, when the request asked for it
  bool pch_built = false;
  bool pch_used = false;
  double pch_build_ms = 0;
  double compile_ms = 0;
};

}  // namespace ebpfrun::compiler

extern "C" {
int ebpfrun_backend_abi_version();
void ebpfrun_backend_compile(const ebpfrun::compiler::BackendRequest* request,
                             ebpfrun::compiler::BackendResult* result);
const char* ebpfrun_backend_compiler_version();
}

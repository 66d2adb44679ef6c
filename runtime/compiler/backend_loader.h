// Finds and dlopens the clang backend (libebpfrun-clang.so). Loading it maps
// all of LLVM, so this happens only when a compile is really needed, and at
// most once per process: LLVM cannot be unloaded safely.
#pragma once

#include <string>

#include "common/result.h"
#include "compiler/backend_api.h"

namespace ebpfrun::compiler {

// Where the backend library is: $EBPFRUN_COMPILER_LIB, else beside the
// executable, else ../lib/ebpfrun/ relative to it. Does not load it.
Result<std::string> backend_library_path();

// A fingerprint of the backend library file (path, size, mtime), part of the
// object-cache key so that a rebuilt compiler never serves stale objects.
std::string backend_fingerprint();

class Backend {
 public:
  static Result<Backend*> get();  // loads on first use
  void compile(const BackendRequest& request, BackendResult& result) const { compile_(&request, &result); }
  std::string version() const { return version_(); }

 private:
  using CompileFn = void (*)(const BackendRequest*, BackendResult*);
  using VersionFn = const char* (*)();
  CompileFn compile_ = nullptr;
  VersionFn version_ = nullptr;
};

}  // namespace ebpfrun::compiler

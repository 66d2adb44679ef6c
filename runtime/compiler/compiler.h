// runtime/compiler — BPF C to BPF ELF, in process, with kernel types from BTF.
//
// compile() is the whole public surface: it checks the object cache first
// (which never loads LLVM), and only on a miss generates vmlinux.h, builds the
// precompiled header if needed and dlopens the clang backend. Diagnostics come
// back as structured records; nothing is printed.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "compiler/diagnostics.h"

namespace ebpfrun::compiler {

struct CompileOptions {
  std::vector<std::string> include_dirs;  // -I, searched before the built-in headers
  std::vector<std::string> defines;       // NAME or NAME=VALUE
  std::string btf_path;                   // empty: the running kernel's BTF
  bool use_cache = true;                  // false: neither read nor write the object cache
  std::string cache_dir;                  // empty: ObjectCache::default_dir()
};

struct CompileStats {
  bool cache_hit = false;
  bool prebuilt = false;        // set by runtime/build: a prebuilt object, nothing compiled
  bool backend_loaded = false;  // true when the clang backend ran (in a child process)
  bool vmlinux_generated = false;
  bool pch_built = false;
  bool pch_used = false;
  double total_ms = 0;
  double pch_build_ms = 0;
  double compile_ms = 0;
  std::string cache_key;
  std::string cache_note;  // why the cache missed (stale, corrupt), for -v
};

struct CompileOutput {
  std::string object;                         // the BPF ELF; empty on failure
  std::vector<Diagnostic> diagnostics;        // warnings on success, errors on failure
  std::string failure;                        // a failure that is not a diagnostic (no BTF, no compiler library)
  ErrorKind failure_kind = ErrorKind::other;  // the kind of `failure`
  int failure_errno = 0;                      // and its errno, when it has one
  CompileStats stats;

  bool ok() const { return !object.empty(); }
  // One message for the user: the failure, or the rendered diagnostics.
  std::string error_message() const;
  // The same message as an Error: kind compile when the diagnostics hold the
  // errors (the source is wrong), else failure_kind (no BTF: not_found, no
  // compiler library: not_supported, ...).
  Error error() const;
};

// Compiles `source`. `path` names it: includes in quotes are resolved relative
// to its directory and diagnostics refer to it; the file need not exist.
CompileOutput compile(std::string_view source, const std::string& path, const CompileOptions& options);

// Reads and compiles the file at `path`.
CompileOutput compile_file(const std::string& path, const CompileOptions& options);

// True when `source` includes vmlinux.h (and so may use the precompiled header).
bool includes_vmlinux_header(std::string_view source);

}  // namespace ebpfrun::compiler

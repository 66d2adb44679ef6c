// Small file-system helpers with Result-based errors that name the path.
#pragma once

#include <string>

#include "common/result.h"

namespace ebpfrun::files {

Result<std::string> read(const std::string& path);
// Writes through a temporary file in the same directory and renames it into
// place, so that readers never see a partial file (concurrent runs share the cache).
Status write_atomic(const std::string& path, std::string_view contents, unsigned mode = 0644);
// mkdir -p with the given mode for directories it creates.
Status make_dirs(const std::string& path, unsigned mode = 0755);
bool exists(const std::string& path);
// This process's executable (/proc/self/exe), and the directory it is in:
// where the compiler library and the prebuilt objects are looked for. Empty
// when /proc is not readable.
std::string executable_path();
std::string executable_dir();
// A library installed with ebpfrun: $ENV_VAR when set (an error when it names
// no file), else NAME beside the executable (a build tree), else
// ../lib/ebpfrun/NAME relative to it (an installed tree). `what` names it in
// the error ("the BPF compiler library").
Result<std::string> find_library(const char* name, const char* env_var, const std::string& what);

}  // namespace ebpfrun::files

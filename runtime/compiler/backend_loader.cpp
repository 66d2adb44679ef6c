#include "compiler/backend_loader.h"

#include <dlfcn.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <mutex>

#include <fmt/format.h>

#include "common/files.h"
#include "common/log.h"

namespace ebpfrun::compiler {
namespace {

constexpr const char* kLibraryName = "libebpfrun-clang.so";

std::string executable_dir() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return ".";
  std::string path(buf, static_cast<size_t>(n));
  return path.substr(0, path.rfind('/'));
}

}  // namespace

Result<std::string> backend_library_path() {
  if (const char* env = std::getenv("EBPFRUN_COMPILER_LIB"); env && *env) {
    if (!files::exists(env)) return make_error(fmt::format("EBPFRUN_COMPILER_LIB points to {}, which does not exist", env));
    return std::string(env);
  }
  const std::string dir = executable_dir();
  for (const std::string& candidate : {dir + "/" + kLibraryName, dir + "/../lib/ebpfrun/" + kLibraryName})
    if (files::exists(candidate)) return candidate;
  return make_error(fmt::format("the BPF compiler library {} was not found beside {} or in {}/../lib/ebpfrun; "
                                "reinstall ebpfrun or set EBPFRUN_COMPILER_LIB",
                                kLibraryName, dir, dir));
}

std::string backend_fingerprint() {
  auto path = backend_library_path();
  if (!path) return "none";
  struct stat st {};
  if (::stat(path->c_str(), &st) != 0) return "none";
  return fmt::format("{}:{}:{}.{}", *path, st.st_size, st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
}

Result<Backend*> Backend::get() {
  static std::mutex mutex;
  static Backend backend;
  static std::string load_error;
  static bool tried = false;
  std::lock_guard lock(mutex);
  if (!tried) {
    tried = true;
    auto path = backend_library_path();
    if (!path) {
      load_error = path.error();
    } else if (void* handle = ::dlopen(path->c_str(), RTLD_NOW | RTLD_LOCAL)) {
      auto abi = reinterpret_cast<int (*)()>(::dlsym(handle, "ebpfrun_backend_abi_version"));
      backend.compile_ = reinterpret_cast<CompileFn>(::dlsym(handle, "ebpfrun_backend_compile"));
      backend.version_ = reinterpret_cast<VersionFn>(::dlsym(handle, "ebpfrun_backend_compiler_version"));
      if (!abi || !backend.compile_ || !backend.version_ || abi() != kBackendAbiVersion)
        load_error = fmt::format("{} does not match this ebpfrun (expected compiler interface {}); reinstall ebpfrun",
                                 *path, kBackendAbiVersion);
      else
        log::debug("loaded BPF compiler {} ({})", *path, backend.version());
    } else {
      load_error = fmt::format("cannot load the BPF compiler library: {}", ::dlerror());
    }
  }
  if (!load_error.empty()) return make_error(load_error);
  return &backend;
}

}  // namespace ebpfrun::compiler

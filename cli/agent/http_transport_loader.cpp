// Loads the HTTP transport module (http_transport.h says why it is one) and
// starts a server with it.
#include <dlfcn.h>

#include <fmt/format.h>

#include "cli/agent/http_transport.h"
#include "common/files.h"

namespace ebpfrun::cli::agent {
namespace {

constexpr const char* kModuleName = "libebpfrun-http.so";

Result<std::string> module_path() {
  return files::find_library(kModuleName, "EBPFRUN_HTTP_LIB", "the agent's HTTP module");
}

// The module stays loaded for the life of the process: transports it created
// run its code until they are destroyed, and a reload may listen again.
Result<HttpListenFn> load_module() {
  static HttpListenFn listen = nullptr;
  if (listen) return listen;
  auto path = module_path();
  if (!path) return std::move(path).take_error();
  void* handle = ::dlopen(path->c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) return make_error(fmt::format("cannot load the agent's HTTP module: {}", ::dlerror()));
  auto abi = reinterpret_cast<int (*)()>(::dlsym(handle, "ebpfrun_http_abi_version"));
  auto entry = reinterpret_cast<HttpListenFn>(::dlsym(handle, "ebpfrun_http_listen"));
  if (!abi || !entry || abi() != kHttpModuleAbiVersion) {
    ::dlclose(handle);
    return make_error(
        fmt::format("{} does not match this ebpfrun (expected HTTP module interface {}); reinstall ebpfrun", *path,
                    kHttpModuleAbiVersion));
  }
  listen = entry;
  return listen;
}

}  // namespace

Result<std::unique_ptr<HttpTransport>> listen_http(HttpListenOptions options) {
  auto listen = load_module();
  if (!listen) return std::move(listen).take_error();
  Result<std::unique_ptr<HttpTransport>> out = make_error(ErrorKind::internal, "the HTTP module returned nothing");
  (*listen)(&options, &out);
  return out;
}

}  // namespace ebpfrun::cli::agent

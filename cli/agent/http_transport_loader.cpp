// Loads the HTTP transport module (http_transport.h says why it is one) and
// starts a server with it.
#include <dlfcn.h>

#include <cstdlib>

#include <fmt/format.h>

#include "cli/agent/http_transport.h"
#include "common/files.h"

namespace ebpfrun::cli::agent {
namespace {

constexpr const char* kModuleName = "libebpfrun-http.so";

Result<std::string> module_path() {
  if (const char* env = std::getenv("EBPFRUN_HTTP_LIB"); env && *env) {
    if (!files::exists(env))
      return make_error(ErrorKind::not_found, fmt::format("EBPFRUN_HTTP_LIB points to {}, which does not exist", env));
    return std::string(env);
  }
  const std::string dir = files::executable_dir();
  for (const std::string& candidate : {dir + "/" + kModuleName, dir + "/../lib/ebpfrun/" + kModuleName})
    if (files::exists(candidate)) return candidate;
  return make_error(ErrorKind::not_found,
                    fmt::format("the agent's HTTP module {} was not found beside {} or in {}/../lib/ebpfrun; "
                                "reinstall ebpfrun or set EBPFRUN_HTTP_LIB",
                                kModuleName, dir, dir));
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

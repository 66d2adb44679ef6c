// The agent's HTTP transport: listens, parses requests and writes responses
// on worker threads, and hands each request to a handler that knows nothing
// of HTTP framing. It lives in a module of its own (libebpfrun-http.so),
// loaded by the agent when it starts listening: Debian's cpp-httplib is built
// against OpenSSL, and linking it into the executable mapped libssl and
// libcrypto (3.5 MiB of resident memory) into every ebpfrun process, tools
// and one-liners included, which never serve HTTP.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "common/result.h"

namespace ebpfrun::cli::agent {

struct HttpRequest {
  std::string path;
  std::string accept;  // the Accept header, "" when absent
};

struct HttpResponse {
  int status = 200;
  std::string body;
  std::string content_type = "text/plain; charset=utf-8";
};

// Called on the transport's worker threads, concurrently; must not throw.
using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

// A listening server; destroying it stops it and joins its threads.
class HttpTransport {
 public:
  virtual ~HttpTransport() = default;
  virtual int port() const = 0;  // the bound port (useful when asked for port 0)
};

struct HttpListenOptions {
  std::string host;  // an address or a name; without brackets for IPv6
  int port = 0;      // 0: any free port
  size_t workers = 16;
  HttpHandler handler;  // GET requests only; any other method is refused by the transport
};

// Binds (so a taken port is an error here, not in a thread) and starts
// serving. Loads the transport module on first use: $EBPFRUN_HTTP_LIB, else
// beside the executable, else ../lib/ebpfrun/ relative to it.
Result<std::unique_ptr<HttpTransport>> listen_http(HttpListenOptions options);

// The module's entry point, resolved with dlsym. The types above cross the
// boundary as they are: the module is built with the executable, and its ABI
// version is checked before the call.
extern "C" {
using HttpListenFn = void (*)(HttpListenOptions* options, Result<std::unique_ptr<HttpTransport>>* out);
}
constexpr int kHttpModuleAbiVersion = 1;

}  // namespace ebpfrun::cli::agent

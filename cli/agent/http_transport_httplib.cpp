// The HTTP transport module (libebpfrun-http.so): cpp-httplib behind the
// interface of http_transport.h. Only the agent loads it (see there why).
#include <httplib.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include <fmt/format.h>

#include "cli/agent/http_transport.h"

namespace ebpfrun::cli::agent {
namespace {

class HttplibTransport final : public HttpTransport {
 public:
  explicit HttplibTransport(HttpListenOptions options) : options_(std::move(options)) {
    size_t workers = options_.workers;
    server_.new_task_queue = [workers] { return new httplib::ThreadPool(workers); };
    // The response goes out as a header write and a body write: with Nagle's
    // algorithm the body of a small response waits for the ACK of the header,
    // which a keep-alive client delays by 40 ms (measured: /metrics p50 42 ms
    // at 250 series, 0.7 ms at 10k).
    server_.set_tcp_nodelay(true);
    server_.Get(".*", [this](const httplib::Request& request, httplib::Response& response) {
      HttpResponse answer = options_.handler(HttpRequest{request.path, request.get_header_value("Accept")});
      response.status = answer.status;
      response.set_content(std::move(answer.body), answer.content_type);
    });
  }

  ~HttplibTransport() override {
    server_.stop();
    if (thread_.joinable()) thread_.join();
  }

  Result<int> bind() {
    if (options_.port == 0) {
      int port = server_.bind_to_any_port(options_.host);
      if (port < 0) return make_error(fmt::format("cannot listen on {}: no free port", where(0)));
      return port;
    }
    if (!server_.bind_to_port(options_.host, options_.port))
      return make_error(fmt::format("cannot listen on {}: {} (is another agent running there?)", where(options_.port),
                                    std::strerror(errno)));
    return options_.port;
  }

  void serve(int port) {
    port_ = port;
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }

  int port() const override { return port_; }

 private:
  std::string where(int port) const {
    return options_.host.find(':') != std::string::npos ? fmt::format("[{}]:{}", options_.host, port)
                                                        : fmt::format("{}:{}", options_.host, port);
  }

  HttpListenOptions options_;
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace
}  // namespace ebpfrun::cli::agent

extern "C" __attribute__((visibility("default"))) int ebpfrun_http_abi_version() {
  return ebpfrun::cli::agent::kHttpModuleAbiVersion;
}

extern "C" __attribute__((visibility("default"))) void ebpfrun_http_listen(
    ebpfrun::cli::agent::HttpListenOptions* options,
    ebpfrun::Result<std::unique_ptr<ebpfrun::cli::agent::HttpTransport>>* out) {
  using namespace ebpfrun::cli::agent;
  auto transport = std::make_unique<HttplibTransport>(std::move(*options));
  auto port = transport->bind();
  if (!port) {
    *out = std::move(port).take_error();
    return;
  }
  transport->serve(*port);
  *out = std::unique_ptr<HttpTransport>(std::move(transport));
}

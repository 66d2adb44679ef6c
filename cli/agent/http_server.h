// The agent's HTTP side: /metrics, /-/healthy, /-/ready and an index page,
// served by cpp-httplib worker threads from the snapshot store. Nothing here
// touches Lua or BPF: a scrape renders the latest published snapshots plus
// self-metrics computed on the spot, so it never waits for a collection.
#pragma once

#include <memory>
#include <string>

#include "common/result.h"
#include "metrics/self_metrics.h"
#include "metrics/store.h"

namespace ebpfrun::cli::agent {

struct ListenAddress {
  std::string host;  // without brackets for IPv6
  int port = 0;
  bool loopback() const;
  std::string text() const;  // "host:port" / "[host]:port"
};

// "127.0.0.1:9435", "[::1]:9435", ":9435" (all addresses), "localhost:9435".
Result<ListenAddress> parse_listen(const std::string& text);

class HttpServer {
 public:
  // Binds (so a taken port is an error here, not in a thread) and starts
  // serving on its own threads.
  static Result<std::unique_ptr<HttpServer>> start(const ListenAddress& address, metrics::SnapshotStore& store,
                                                   metrics::BuildInfo build);
  ~HttpServer();  // stops and joins
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const;

 private:
  struct Impl;
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ebpfrun::cli::agent

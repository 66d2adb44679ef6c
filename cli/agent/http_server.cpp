#include "cli/agent/http_server.h"

#include <algorithm>
#include <chrono>
#include <mutex>
#include <unordered_set>

#include <fmt/format.h>

#include "cli/agent/http_transport.h"
#include "metrics/exposition.h"

namespace ebpfrun::cli::agent {
namespace {

// Enough workers that 20 keep-alive scrapers do not queue behind each other;
// each is a mostly idle thread.
constexpr size_t kWorkers = 16;

std::string html_escape(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// Empty when ready; otherwise one line per reason.
std::string not_ready_reasons(const metrics::SnapshotStore::View& view) {
  if (!view.started) return "starting: collectors are being loaded\n";
  std::string reasons;
  for (const auto& c : view.collectors)
    if (!c.up) reasons += fmt::format("collector {} is down: {}\n", c.name, c.reason);
  return reasons;
}

std::string index_page(const metrics::SnapshotStore::View& view, const metrics::BuildInfo& build) {
  std::string rows;
  for (const auto& c : view.collectors)
    rows += fmt::format("<tr><td>{}</td><td>{}</td><td>{:g} s</td><td>{:.1f} ms</td><td>{}</td></tr>\n",
                        html_escape(c.name), c.up ? "up" : "down", c.interval, c.collect_seconds * 1000,
                        html_escape(c.reason));
  return fmt::format(
      "<!DOCTYPE html>\n<html><head><title>ebpfrun agent</title></head><body>\n"
      "<h1>ebpfrun agent</h1>\n<p>ebpfrun {} &middot; libbpf {} &middot; LLVM {} &middot; kernel {}</p>\n"
      "<ul><li><a href=\"/metrics\">/metrics</a></li><li><a href=\"/-/healthy\">/-/healthy</a></li>"
      "<li><a href=\"/-/ready\">/-/ready</a></li></ul>\n"
      "<table border=\"1\"><tr><th>collector</th><th>state</th><th>interval</th><th>last collection</th>"
      "<th>reason</th></tr>\n{}</table>\n</body></html>\n",
      html_escape(build.version), html_escape(build.libbpf), html_escape(build.llvm), html_escape(build.kernel), rows);
}

}  // namespace

bool ListenAddress::loopback() const { return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0; }

std::string ListenAddress::text() const {
  return host.find(':') != std::string::npos ? fmt::format("[{}]:{}", host, port) : fmt::format("{}:{}", host, port);
}

Result<ListenAddress> parse_listen(const std::string& text) {
  ListenAddress address;
  std::string port;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find("]:");
    if (close == std::string::npos) return make_error(fmt::format("listen address '{}' is not [ADDR]:PORT", text));
    address.host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string::npos) return make_error(fmt::format("listen address '{}' is not ADDR:PORT", text));
    address.host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  if (address.host.empty()) address.host = "0.0.0.0";
  char* end = nullptr;
  long value = std::strtol(port.c_str(), &end, 10);
  if (port.empty() || *end != '\0' || value < 0 || value > 65535)
    return make_error(fmt::format("listen address '{}': '{}' is not a port number", text, port));
  address.port = static_cast<int>(value);
  return address;
}

struct HttpServer::Impl {
  metrics::SnapshotStore* store = nullptr;
  metrics::BuildInfo build;
  metrics::ScrapeStats scrapes;

  // Each source publishes once per collection interval, while scrapes come
  // more often and often together: the rendered text of each snapshot is kept
  // per format and reused until that source publishes again. (The cache holds
  // the snapshots themselves, so a pointer cannot be reused meanwhile.) Only
  // when two sources publish a family of the same name is everything rendered
  // together, since a family must appear once.
  struct Rendered {
    std::shared_ptr<const metrics::Snapshot> snapshot;
    std::shared_ptr<const std::string> text[2];
  };
  std::mutex cache_mutex;
  std::vector<Rendered> cache;

  std::shared_ptr<const std::string> rendered(const std::shared_ptr<const metrics::Snapshot>& snapshot,
                                              metrics::Format format) {
    int slot = format == metrics::Format::openmetrics ? 1 : 0;
    {
      std::lock_guard lock(cache_mutex);
      for (const auto& r : cache)
        if (r.snapshot == snapshot && r.text[slot]) return r.text[slot];
    }
    std::vector<const metrics::Family*> families;
    for (const auto& f : *snapshot) families.push_back(&f);
    auto text = std::make_shared<const std::string>(metrics::render(families, format, false));
    std::lock_guard lock(cache_mutex);
    for (auto& r : cache)
      if (r.snapshot == snapshot) {
        r.text[slot] = text;
        return text;
      }
    Rendered entry{snapshot, {}};
    entry.text[slot] = text;
    cache.push_back(std::move(entry));
    return text;
  }

  // Drops cached text of snapshots no longer published.
  void prune(const metrics::SnapshotStore::View& view) {
    std::lock_guard lock(cache_mutex);
    std::erase_if(cache, [&](const Rendered& r) {
      return std::find(view.snapshots.begin(), view.snapshots.end(), r.snapshot) == view.snapshots.end();
    });
  }

  void append_collectors(std::string& body, const metrics::SnapshotStore::View& view, metrics::Format format) {
    std::unordered_set<std::string_view> names;
    bool clash = false;
    for (const auto& snapshot : view.snapshots) {
      std::unordered_set<std::string_view> own;
      for (const auto& f : *snapshot) own.insert(f.name);
      for (auto name : own) clash = clash || !names.insert(name).second;
    }
    if (clash) {
      std::vector<const metrics::Family*> families;
      for (const auto& snapshot : view.snapshots)
        for (const auto& f : *snapshot) families.push_back(&f);
      body += metrics::render(families, format, false);
      return;
    }
    std::vector<std::shared_ptr<const std::string>> parts;
    size_t size = body.size();
    for (const auto& snapshot : view.snapshots) {
      parts.push_back(rendered(snapshot, format));
      size += parts.back()->size();
    }
    prune(view);
    body.reserve(size + 8);
    for (const auto& part : parts) body += *part;
  }

  HttpResponse serve_metrics(const HttpRequest& request) {
    auto started = std::chrono::steady_clock::now();
    auto view = store->view();
    metrics::Format format = metrics::negotiate(request.accept);
    std::vector<metrics::Family> self = metrics::self_metrics(view, build, scrapes);
    std::vector<const metrics::Family*> families;
    for (const auto& f : self) families.push_back(&f);
    std::string body = metrics::render(families, format, false);
    append_collectors(body, view, format);
    if (format == metrics::Format::openmetrics) body += "# EOF\n";
    HttpResponse response{200, std::move(body), metrics::content_type(format)};
    scrapes.record(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    return response;
  }

  HttpResponse serve(const HttpRequest& request) {
    if (request.path == "/metrics") return serve_metrics(request);
    if (request.path == "/-/healthy") return {200, "ebpfrun agent is healthy\n"};
    if (request.path == "/-/ready") {
      std::string reasons = not_ready_reasons(store->view());
      if (reasons.empty()) return {200, "ebpfrun agent is ready\n"};
      return {503, std::move(reasons)};
    }
    if (request.path == "/") return {200, index_page(store->view(), build), "text/html; charset=utf-8"};
    return {404, "not found: the agent serves /metrics, /-/healthy, /-/ready and /\n"};
  }

  // Last, so that it is destroyed first: its workers call serve(), which
  // uses the members above, until it has stopped and joined them.
  std::unique_ptr<HttpTransport> transport;
};

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() = default;

int HttpServer::port() const { return impl_->transport->port(); }

Result<std::unique_ptr<HttpServer>> HttpServer::start(const ListenAddress& address, metrics::SnapshotStore& store,
                                                      metrics::BuildInfo build) {
  auto impl = std::make_unique<Impl>();
  impl->store = &store;
  impl->build = std::move(build);
  Impl* raw = impl.get();
  auto transport = listen_http(
      {address.host, address.port, kWorkers, [raw](const HttpRequest& request) { return raw->serve(request); }});
  if (!transport) return std::move(transport).take_error();
  impl->transport = std::move(transport).value();
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

}  // namespace ebpfrun::cli::agent

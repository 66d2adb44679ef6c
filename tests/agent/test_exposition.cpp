// The exposition renderer and the name lint of runtime/metrics: both text
// formats, escaping, histogram buckets, OpenMetrics' counter naming and EOF.
#include <catch2/catch.hpp>

#include <thread>

#include "metrics/exposition.h"
#include "metrics/naming.h"
#include "metrics/store.h"

using namespace ebpfrun::metrics;

namespace {

Family counter_family() {
  Family f{"ebpfrun_syscalls_total", "System calls completed.", Type::counter, {"pid", "comm"}, {}, {}};
  f.samples.push_back({{"42", "nginx"}, 17});
  f.samples.push_back({{"7", "we\"ird\\na\nme"}, 2.5});
  return f;
}

Family histogram_family() {
  Family f{"ebpfrun_runqueue_latency_seconds", "Run-queue latency.", Type::histogram, {}, {}, {}};
  HistogramSample h;
  h.buckets = {{0.000001, 3}, {0.000003, 5}, {0.000007, 9}};
  h.sum = 0.00004;
  h.count = 9;
  f.histograms.push_back(h);
  return f;
}

}  // namespace

TEST_CASE("text format 0.0.4: HELP, TYPE, samples, escaping", "[metrics]") {
  Family f = counter_family();
  std::string out = render({&f}, Format::text);
  CHECK(out ==
        "# HELP ebpfrun_syscalls_total System calls completed.\n"
        "# TYPE ebpfrun_syscalls_total counter\n"
        "ebpfrun_syscalls_total{pid=\"42\",comm=\"nginx\"} 17\n"
        "ebpfrun_syscalls_total{pid=\"7\",comm=\"we\\\"ird\\\\na\\nme\"} 2.5\n");
  CHECK(out.find("# EOF") == std::string::npos);
}

TEST_CASE("OpenMetrics: counter family without _total, samples with it, # EOF last", "[metrics]") {
  Family f = counter_family();
  std::string out = render({&f}, Format::openmetrics);
  CHECK(out.rfind("# HELP ebpfrun_syscalls System calls completed.\n# TYPE ebpfrun_syscalls counter\n", 0) == 0);
  CHECK(out.find("ebpfrun_syscalls_total{pid=\"42\",comm=\"nginx\"} 17\n") != std::string::npos);
  CHECK(out.size() >= 6);
  CHECK(out.substr(out.size() - 6) == "# EOF\n");
}

TEST_CASE("histograms: cumulative buckets, +Inf added, _sum and _count", "[metrics]") {
  Family f = histogram_family();
  std::string out = render({&f}, Format::text);
  CHECK(out ==
        "# HELP ebpfrun_runqueue_latency_seconds Run-queue latency.\n"
        "# TYPE ebpfrun_runqueue_latency_seconds histogram\n"
        "ebpfrun_runqueue_latency_seconds_bucket{le=\"1e-06\"} 3\n"
        "ebpfrun_runqueue_latency_seconds_bucket{le=\"3e-06\"} 5\n"
        "ebpfrun_runqueue_latency_seconds_bucket{le=\"7e-06\"} 9\n"
        "ebpfrun_runqueue_latency_seconds_bucket{le=\"+Inf\"} 9\n"
        "ebpfrun_runqueue_latency_seconds_sum 4e-05\n"
        "ebpfrun_runqueue_latency_seconds_count 9\n");
  // Histograms keep their family name in OpenMetrics too.
  CHECK(render({&f}, Format::openmetrics).find("# TYPE ebpfrun_runqueue_latency_seconds histogram\n") !=
        std::string::npos);
}

TEST_CASE("families of one name from several snapshots render as one family", "[metrics]") {
  Family on{"ebpfrun_cpu_seconds_total", "CPU time.", Type::counter, {"state"}, {{{"on"}, 1}}, {}};
  Family other{"ebpfrun_other", "Other.", Type::gauge, {}, {{{}, 3}}, {}};
  Family off{"ebpfrun_cpu_seconds_total", "CPU time.", Type::counter, {"state"}, {{{"off"}, 2}}, {}};
  std::string out = render({&on, &other, &off}, Format::text);
  CHECK(out ==
        "# HELP ebpfrun_cpu_seconds_total CPU time.\n# TYPE ebpfrun_cpu_seconds_total counter\n"
        "ebpfrun_cpu_seconds_total{state=\"on\"} 1\nebpfrun_cpu_seconds_total{state=\"off\"} 2\n"
        "# HELP ebpfrun_other Other.\n# TYPE ebpfrun_other gauge\nebpfrun_other 3\n");
}

TEST_CASE("values, help escaping and content negotiation", "[metrics]") {
  CHECK(format_value(0) == "0");
  CHECK(format_value(12345678901.0) == "12345678901");
  CHECK(format_value(0.25) == "0.25");
  CHECK(format_value(1.0 / 0.0) == "+Inf");
  CHECK(format_value(-1.0 / 0.0) == "-Inf");
  CHECK(format_value(0.0 / 0.0) == "NaN");
  CHECK(escape_help("a\\b\nc\"d") == "a\\\\b\\nc\"d");
  CHECK(negotiate("application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5") == Format::openmetrics);
  CHECK(negotiate("text/plain;version=0.0.4") == Format::text);
  CHECK(negotiate("") == Format::text);
  CHECK(std::string(content_type(Format::openmetrics)).rfind("application/openmetrics-text; version=1.0.0", 0) == 0);
}

TEST_CASE("name lint: the rules promtool check metrics applies", "[metrics]") {
  CHECK(lint("ebpfrun_syscalls_total", Type::counter, "help", {"pid", "comm"}).empty());
  CHECK(lint("ebpfrun_rss_bytes", Type::gauge, "help", {"pid"}).empty());
  CHECK(lint("ebpfrun_runqueue_latency_seconds", Type::histogram, "help", {}).empty());
  auto one = [](std::string name, Type type, std::vector<std::string> labels = {}, std::string help = "h") {
    auto problems = lint(name, type, help, labels);
    return problems.size() == 1 ? problems[0] : std::string("<") + std::to_string(problems.size()) + " problems>";
  };
  CHECK_THAT(one("ebpfrun_syscalls", Type::counter), Catch::Contains("_total"));
  CHECK_THAT(one("ebpfrun_rss_total", Type::gauge), Catch::Contains("non-counter"));
  CHECK_THAT(one("ebpfrun_latency_milliseconds", Type::gauge), Catch::Contains("base unit \"seconds\""));
  CHECK_THAT(one("ebpfrun_latency_ms", Type::gauge), Catch::Contains("abbreviated"));
  CHECK_THAT(one("ebpfrun_fooBar", Type::gauge), Catch::Contains("snake_case"));
  CHECK_THAT(one("ebpfrun_x", Type::gauge, {"__name"}), Catch::Contains("reserved"));
  CHECK_THAT(one("ebpfrun_x", Type::gauge, {}, ""), Catch::Contains("no help"));
  CHECK_THAT(one("ebpfrun_x_bucket", Type::gauge), Catch::Contains("_bucket"));
  CHECK_THAT(one("ebpfrun_wait_seconds", Type::histogram, {"le"}), Catch::Contains("\"le\""));
  CHECK_THAT(one("ebpfrun_x:y", Type::gauge), Catch::Contains("':'"));
  CHECK_THAT(one("ebpfrun_events_counter_total", Type::counter), Catch::Contains("type"));
  CHECK_THAT(one("9lives", Type::gauge), Catch::Contains("not a valid metric name"));
  CHECK_FALSE(valid_label_name("a-b"));
  CHECK(valid_label_name("_a1"));
}

TEST_CASE("snapshot store: scrapes read while collections publish", "[metrics]") {
  SnapshotStore store;
  std::atomic<bool> done{false};
  std::atomic<size_t> rendered{0};
  std::thread reader([&] {
    while (!done) {
      auto view = store.view();
      std::vector<const Family*> families;
      for (const auto& s : view.snapshots)
        for (const auto& f : *s) families.push_back(&f);
      if (!render(families, Format::text).empty()) ++rendered;
    }
  });
  for (int i = 0; i < 2000; ++i) store.publish(i % 2 ? "a" : "b", {counter_family()});
  done = true;
  reader.join();
  auto view = store.view();
  CHECK(view.snapshots.size() == 2);
  store.remove("a");
  CHECK(store.view().snapshots.size() == 1);
}

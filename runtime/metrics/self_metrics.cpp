#include "metrics/self_metrics.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

namespace ebpfrun::metrics {
namespace {

double boot_time() {
  std::ifstream in("/proc/stat");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("btime ", 0) == 0) return std::strtod(line.c_str() + 6, nullptr);
  return 0;
}

double count_fds() {
  DIR* dir = ::opendir("/proc/self/fd");
  if (!dir) return 0;
  double n = 0;
  while (dirent* entry = ::readdir(dir))
    if (entry->d_name[0] != '.') ++n;
  ::closedir(dir);
  return n - 1;  // the directory stream's own fd
}

Family gauge(std::string name, std::string help, double value) {
  Family f{std::move(name), std::move(help), Type::gauge, {}, {}, {}};
  f.samples.push_back({{}, value});
  return f;
}

Family counter(std::string name, std::string help, double value) {
  Family f = gauge(std::move(name), std::move(help), value);
  f.type = Type::counter;
  return f;
}

}  // namespace

ProcessStats read_process_stats() {
  ProcessStats stats;
  std::ifstream in("/proc/self/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Fields after the command name, which is in parentheses and may hold spaces.
  size_t close = text.rfind(')');
  if (close != std::string::npos) {
    std::istringstream fields(text.substr(close + 2));
    std::vector<std::string> f;
    std::string field;
    while (fields >> field) f.push_back(field);
    // f[0] is field 3 (state): field N is f[N - 3].
    double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
    double page = static_cast<double>(::sysconf(_SC_PAGESIZE));
    if (f.size() > 21 && ticks > 0) {
      stats.cpu_seconds = (std::strtod(f[11].c_str(), nullptr) + std::strtod(f[12].c_str(), nullptr)) / ticks;
      stats.start_time_seconds = boot_time() + std::strtod(f[19].c_str(), nullptr) / ticks;
      stats.virtual_bytes = std::strtod(f[20].c_str(), nullptr);
      stats.resident_bytes = std::strtod(f[21].c_str(), nullptr) * page;
    }
  }
  stats.open_fds = count_fds();
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0) stats.max_fds = static_cast<double>(limit.rlim_cur);
  return stats;
}

std::vector<Family> self_metrics(const SnapshotStore::View& view, const BuildInfo& build, const ScrapeStats& scrapes) {
  std::vector<Family> out;
  Family info{"ebpfrun_build_info",
              "Build and runtime versions of the agent; always 1.",
              Type::gauge,
              {"version", "libbpf", "llvm", "kernel"},
              {},
              {}};
  info.samples.push_back({{build.version, build.libbpf, build.llvm, build.kernel}, 1});
  out.push_back(std::move(info));

  ProcessStats p = read_process_stats();
  out.push_back(
      counter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", p.cpu_seconds));
  out.push_back(gauge("process_resident_memory_bytes", "Resident memory size in bytes.", p.resident_bytes));
  out.push_back(gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.", p.virtual_bytes));
  out.push_back(gauge("process_open_fds", "Number of open file descriptors.", p.open_fds));
  out.push_back(gauge("process_max_fds", "Maximum number of open file descriptors.", p.max_fds));
  out.push_back(gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
                      p.start_time_seconds));

  Family up{"ebpfrun_collector_up",
            "1 when the collector is attached and collecting, 0 when disabled (see reason).",
            Type::gauge,
            {"collector", "reason"},
            {},
            {}};
  Family duration{"ebpfrun_collector_collect_duration_seconds",
                  "How long the collector's last collection took.",
                  Type::gauge,
                  {"collector"},
                  {},
                  {}};
  Family success{"ebpfrun_collector_last_success_timestamp_seconds",
                 "Unix time of the collector's last successful collection.",
                 Type::gauge,
                 {"collector"},
                 {},
                 {}};
  for (const auto& c : view.collectors) {
    up.samples.push_back({{c.name, c.reason}, c.up ? 1.0 : 0.0});
    duration.samples.push_back({{c.name}, c.collect_seconds});
    success.samples.push_back({{c.name}, c.last_success});
  }
  out.push_back(std::move(up));
  out.push_back(std::move(duration));
  out.push_back(std::move(success));

  out.push_back(counter("ebpfrun_scrapes_total", "Scrapes of /metrics served.", static_cast<double>(scrapes.count())));
  out.push_back(counter("ebpfrun_scrape_duration_seconds_total", "Time spent rendering /metrics responses.",
                        scrapes.total_seconds()));
  out.push_back(gauge("ebpfrun_last_scrape_duration_seconds", "How long rendering the previous /metrics response took.",
                      scrapes.last_seconds()));
  return out;
}

}  // namespace ebpfrun::metrics

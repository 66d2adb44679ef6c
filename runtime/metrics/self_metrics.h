// runtime/metrics — what the agent reports about itself, computed at scrape
// time: build info, the standard process_* metrics (the names every
// Prometheus client library uses, read from /proc/self), collector states
// and scrape statistics. Collection-side self-monitoring (map pressure,
// series dropped, reader and program counters) is published by the agent as
// an ordinary snapshot.
#pragma once

#include <string>
#include <vector>

#include "metrics/family.h"
#include "metrics/store.h"

namespace ebpfrun::metrics {

struct BuildInfo {
  std::string version, libbpf, llvm, kernel;
};

struct ProcessStats {
  double cpu_seconds = 0;
  double resident_bytes = 0;
  double virtual_bytes = 0;
  double open_fds = 0;
  double max_fds = 0;
  double start_time_seconds = 0;
};

// This process's figures; fields that cannot be read stay 0.
ProcessStats read_process_stats();

std::vector<Family> self_metrics(const SnapshotStore::View& view, const BuildInfo& build, const ScrapeStats& scrapes);

}  // namespace ebpfrun::metrics

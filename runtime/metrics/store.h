// runtime/metrics — the snapshot store between collection and scraping.
//
// Collection (the agent's single Lua thread) publishes each source's
// families whole; scrapes (HTTP worker threads) take the latest snapshot of
// every source. A snapshot is immutable once published and shared by
// pointer, so the lock is held only to copy a few pointers: a scrape never
// waits for a collection, a collection never waits for a slow client, and
// any number of scrapes run at once.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "metrics/family.h"

namespace ebpfrun::metrics {

using Snapshot = std::vector<Family>;

// A collector as /-/ready, the index page and ebpfrun_collector_* report it.
struct CollectorState {
  std::string name;
  bool up = false;
  std::string reason;          // why it is not up (one line); empty when up
  double interval = 0;         // seconds between collections
  double collect_seconds = 0;  // how long the last collection took
  double last_success = 0;     // Unix time of the last successful collection, 0 = never
};

class SnapshotStore {
 public:
  // Replaces `source`'s snapshot.
  void publish(const std::string& source, Snapshot families);
  void remove(const std::string& source);

  void set_collector(CollectorState state);
  void remove_collector(const std::string& name);
  // Set once the configured collectors have all been tried (ready may still
  // be false if one of them is down).
  void set_started(bool started) { started_.store(started); }

  struct View {
    std::vector<std::shared_ptr<const Snapshot>> snapshots;  // in source-name order
    std::vector<CollectorState> collectors;                  // in name order
    bool started = false;
  };
  View view() const;

 private:
  mutable std::mutex mutex_;
  std::map<std::string, std::shared_ptr<const Snapshot>> snapshots_;
  std::map<std::string, CollectorState> collectors_;
  std::atomic<bool> started_{false};
};

// Scrape self-monitoring, updated by the HTTP threads.
class ScrapeStats {
 public:
  void record(double seconds);
  uint64_t count() const { return count_.load(); }
  double total_seconds() const;
  double last_seconds() const;

 private:
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> total_ns_{0};
  std::atomic<uint64_t> last_ns_{0};
};

}  // namespace ebpfrun::metrics

#include "metrics/store.h"

namespace ebpfrun::metrics {

void SnapshotStore::publish(const std::string& source, Snapshot families) {
  auto snapshot = std::make_shared<const Snapshot>(std::move(families));
  std::shared_ptr<const Snapshot> old;  // released outside the lock
  std::lock_guard lock(mutex_);
  auto& slot = snapshots_[source];
  old = std::move(slot);
  slot = std::move(snapshot);
}

void SnapshotStore::remove(const std::string& source) {
  std::shared_ptr<const Snapshot> old;
  std::lock_guard lock(mutex_);
  if (auto it = snapshots_.find(source); it != snapshots_.end()) {
    old = std::move(it->second);
    snapshots_.erase(it);
  }
}

void SnapshotStore::set_collector(CollectorState state) {
  std::lock_guard lock(mutex_);
  std::string name = state.name;
  collectors_[name] = std::move(state);
}

void SnapshotStore::remove_collector(const std::string& name) {
  std::lock_guard lock(mutex_);
  collectors_.erase(name);
}

SnapshotStore::View SnapshotStore::view() const {
  View view;
  std::lock_guard lock(mutex_);
  view.snapshots.reserve(snapshots_.size());
  for (const auto& [name, snapshot] : snapshots_) view.snapshots.push_back(snapshot);
  view.collectors.reserve(collectors_.size());
  for (const auto& [name, state] : collectors_) view.collectors.push_back(state);
  view.started = started_.load();
  return view;
}

void ScrapeStats::record(double seconds) {
  auto ns = static_cast<uint64_t>(seconds * 1e9);
  count_.fetch_add(1);
  total_ns_.fetch_add(ns);
  last_ns_.store(ns);
}

double ScrapeStats::total_seconds() const { return static_cast<double>(total_ns_.load()) / 1e9; }
double ScrapeStats::last_seconds() const { return static_cast<double>(last_ns_.load()) / 1e9; }

}  // namespace ebpfrun::metrics

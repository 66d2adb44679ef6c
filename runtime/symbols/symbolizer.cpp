#include "symbols/symbolizer.h"

namespace ebpfrun::symbols {

Result<std::vector<Frame>> Symbolizer::kernel(const std::vector<uint64_t>& addrs) {
  if (!kernel_) {
    auto table = KernelSymbols::load();
    if (!table) return std::move(table).take_error();
    kernel_.emplace(std::move(*table));
  }
  std::vector<Frame> frames;
  frames.reserve(addrs.size());
  for (uint64_t addr : addrs) frames.push_back(kernel_->lookup(addr));
  return frames;
}

ProcessSymbols* Symbolizer::process(pid_t pid) {
  if (auto found = by_pid_.find(pid); found != by_pid_.end()) {
    lru_.splice(lru_.begin(), lru_, found->second);
    return &lru_.front();
  }
  auto opened = ProcessSymbols::open(pid);
  if (!opened) return nullptr;
  lru_.push_front(std::move(*opened));
  by_pid_[pid] = lru_.begin();
  if (lru_.size() > max_processes_) {
    by_pid_.erase(lru_.back().pid());
    lru_.pop_back();
  }
  return &lru_.front();
}

Status Symbolizer::remember(pid_t pid) {
  if (by_pid_.count(pid)) return ok_status();
  auto opened = ProcessSymbols::open(pid);
  if (!opened) return std::move(opened).take_error();
  lru_.push_front(std::move(*opened));
  by_pid_[pid] = lru_.begin();
  if (lru_.size() > max_processes_) {
    by_pid_.erase(lru_.back().pid());
    lru_.pop_back();
  }
  return ok_status();
}

std::vector<Frame> Symbolizer::user(pid_t pid, const std::vector<uint64_t>& addrs) {
  std::vector<Frame> frames;
  ProcessSymbols* session = process(pid);
  for (uint64_t addr : addrs) {
    if (!session) {
      Frame frame;
      frame.addr = addr;
      frame.symbol = kExited;
      frames.push_back(std::move(frame));
      continue;
    }
    for (Frame& frame : session->lookup(addr)) frames.push_back(std::move(frame));
  }
  return frames;
}

}  // namespace ebpfrun::symbols

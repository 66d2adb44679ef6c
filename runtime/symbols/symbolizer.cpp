#include "symbols/symbolizer.h"

namespace ebpfrun::symbols {

namespace {

// The address to look up for entry `index` of a stack (see symbolizer.h).
uint64_t lookup_address(const std::vector<uint64_t>& stack, size_t index) {
  return index > 0 && stack[index] > 0 ? stack[index] - 1 : stack[index];
}

// Restores the recorded address in a frame looked up one byte earlier.
void restore(Frame& frame, uint64_t recorded) {
  if (frame.addr != recorded && frame.symbol != kUnknown) frame.offset += recorded - frame.addr;
  frame.addr = recorded;
}

}  // namespace

Result<std::vector<Frame>> Symbolizer::kernel(const std::vector<uint64_t>& stack) {
  if (!kernel_) {
    auto table = KernelSymbols::load();
    if (!table) return std::move(table).take_error();
    kernel_.emplace(std::move(*table));
  }
  std::vector<Frame> frames;
  frames.reserve(stack.size());
  for (size_t i = 0; i < stack.size(); ++i) {
    frames.push_back(kernel_->lookup(lookup_address(stack, i)));
    restore(frames.back(), stack[i]);
  }
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

std::vector<Frame> Symbolizer::user(pid_t pid, const std::vector<uint64_t>& stack) {
  std::vector<Frame> frames;
  ProcessSymbols* session = process(pid);
  for (size_t i = 0; i < stack.size(); ++i) {
    if (!session) {
      Frame frame;
      frame.addr = stack[i];
      frame.symbol = kExited;
      frames.push_back(std::move(frame));
      continue;
    }
    for (Frame& frame : session->lookup(lookup_address(stack, i))) {
      restore(frame, stack[i]);
      frames.push_back(std::move(frame));
    }
  }
  return frames;
}

}  // namespace ebpfrun::symbols

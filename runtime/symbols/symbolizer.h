// runtime/symbols — the symbolizer the bindings and tools use: kernel frames
// from the kallsyms table, user frames per pid from a bounded cache of
// ProcessSymbols.
//
// The process cache is an LRU of at most `max_processes` sessions: a profile
// of a busy machine sees thousands of pids, and each session holds open files
// and parsed symbol tables. A pid seen once stays symbolizable after it exits
// as long as its session is cached; an unknown pid that is gone symbolizes to
// kExited frames, and an address in no mapped file to kUnknown.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/result.h"
#include "symbols/frame.h"
#include "symbols/kernel_symbols.h"
#include "symbols/process_symbols.h"

namespace ebpfrun::symbols {

class Symbolizer {
 public:
  explicit Symbolizer(size_t max_processes = 64) : max_processes_(max_processes ? max_processes : 1) {}

  // Both take a stack as the kernel records it, innermost first: the first
  // address is where the code was, every other one a return address, which
  // points after its call instruction and so, when the call was the last
  // instruction of a function that never returns, at the next function.
  // Those are looked up one byte earlier, inside the call, as every unwinder
  // does; the frames still report the address as recorded.
  //
  // Kernel addresses; fails only when kallsyms cannot be read (not root).
  Result<std::vector<Frame>> kernel(const std::vector<uint64_t>& stack);
  // User addresses of `pid`, inlined frames expanded (so the result can be
  // longer than the stack). A pid that exited before it was ever seen gives
  // one kExited frame per address.
  std::vector<Frame> user(pid_t pid, const std::vector<uint64_t>& stack);
  // Opens and caches the session for `pid` now, so it survives the process's
  // exit: tools call it when they first see a pid in an event.
  Status remember(pid_t pid);

  size_t cached_processes() const { return lru_.size(); }

 private:
  ProcessSymbols* process(pid_t pid);
  size_t max_processes_;
  std::optional<KernelSymbols> kernel_;
  // Most recently used first.
  std::list<ProcessSymbols> lru_;
  std::unordered_map<pid_t, std::list<ProcessSymbols>::iterator> by_pid_;
};

}  // namespace ebpfrun::symbols

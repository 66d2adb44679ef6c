// runtime/symbols — user-space addresses of one process to names, with
// elfutils' libdwfl (the library perf and systemtap use) rather than an ELF and
// DWARF reader of our own.
//
// ProcessSymbols owns one Dwfl session holding the process's mappings as read
// from /proc/PID/maps at open(). Files are opened through /proc/PID/root, so a
// process in another mount namespace (a container) is symbolized from its own
// files, not from whatever has the same path on the host. open() also opens
// every mapped ELF file at once, so a process that exits later can still be
// symbolized from what was opened. libdwfl finds symbols in .symtab, .dynsym
// and the xz-compressed .gnu_debugdata (MiniDebugInfo), and separate debug
// files by build-id under /usr/lib/debug; with DWARF it adds source lines and
// inlined frames.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"
#include "symbols/frame.h"

struct Dwfl;

namespace ebpfrun::symbols {

class ProcessSymbols {
 public:
  // Reads the mappings of `pid`; not_found when the process does not exist.
  static Result<ProcessSymbols> open(pid_t pid);
  ProcessSymbols(ProcessSymbols&& other) noexcept;
  ProcessSymbols& operator=(ProcessSymbols&& other) noexcept;
  ProcessSymbols(const ProcessSymbols&) = delete;
  ProcessSymbols& operator=(const ProcessSymbols&) = delete;
  ~ProcessSymbols();

  // The frames for one address, innermost inlined function first; a single
  // kUnknown frame when no mapped ELF file covers it (JIT, anonymous memory).
  std::vector<Frame> lookup(uint64_t addr) const;
  pid_t pid() const { return pid_; }

 private:
  ProcessSymbols(pid_t pid, Dwfl* dwfl) : pid_(pid), dwfl_(dwfl) {}
  pid_t pid_ = 0;
  Dwfl* dwfl_ = nullptr;
};

}  // namespace ebpfrun::symbols

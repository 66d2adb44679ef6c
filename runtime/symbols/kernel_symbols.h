// runtime/symbols — kernel addresses to names, from /proc/kallsyms.
//
// The table is read once and sorted, and lookups are a binary search for the
// last symbol at or below the address: kallsyms lists symbols, not their
// sizes, so a symbol is taken to extend to the next one. Module symbols carry
// their module name ("[ext4]" in kallsyms). Without privileges the kernel
// shows every address as 0; load() then fails with a permission error rather
// than returning a table that would name every frame wrongly.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"
#include "symbols/frame.h"

namespace ebpfrun::symbols {

class KernelSymbols {
 public:
  static Result<KernelSymbols> load(const std::string& path = "/proc/kallsyms");

  // The frame for a kernel address; symbol kUnknown when no symbol covers it.
  Frame lookup(uint64_t addr) const;
  // The address of a symbol by exact name (first match), or 0.
  uint64_t address_of(const std::string& name) const;
  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    uint64_t addr;
    uint32_t name;    // offset into names_
    uint32_t module;  // offset into names_ ("kernel" for the core image)
  };
  const char* name_at(uint32_t offset) const { return names_.data() + offset; }
  std::vector<Entry> entries_;
  std::string names_;  // NUL-separated names and module names
};

}  // namespace ebpfrun::symbols

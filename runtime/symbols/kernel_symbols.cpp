#include "symbols/kernel_symbols.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <unordered_map>

namespace ebpfrun::symbols {

Result<KernelSymbols> KernelSymbols::load(const std::string& path) {
  std::ifstream in(path);
  if (!in) return make_errno_error(errno, "cannot read " + path + ": " + std::strerror(errno));
  KernelSymbols table;
  // Module names repeat for thousands of symbols; store each once.
  std::unordered_map<std::string, uint32_t> modules;
  auto intern = [&](const std::string& text) {
    auto offset = static_cast<uint32_t>(table.names_.size());
    table.names_.append(text);
    table.names_.push_back('\0');
    return offset;
  };
  uint32_t kernel_module = intern("kernel");
  std::string line;
  bool any_nonzero = false;
  while (std::getline(in, line)) {
    // "ffffffff81000000 T _stext" or "... t name\t[module]".
    char* end = nullptr;
    uint64_t addr = std::strtoull(line.c_str(), &end, 16);
    if (end == line.c_str() || end[0] != ' ' || end[1] == '\0') continue;
    char type = end[1];
    // Only code: data symbols would make a wrong nearest match for a text address.
    if (type != 't' && type != 'T' && type != 'w' && type != 'W') continue;
    const char* name = end + 3;
    if (end[2] != ' ') continue;
    const char* tab = std::strchr(name, '\t');
    uint32_t module = kernel_module;
    std::string symbol = tab ? std::string(name, tab) : std::string(name);
    if (tab) {
      std::string mod(tab + 1);
      if (mod.size() > 2 && mod.front() == '[' && mod.back() == ']') mod = mod.substr(1, mod.size() - 2);
      auto found = modules.find(mod);
      if (found == modules.end()) found = modules.emplace(mod, intern(mod)).first;
      module = found->second;
    }
    if (addr != 0) any_nonzero = true;
    table.entries_.push_back(Entry{addr, intern(symbol), module});
  }
  if (table.entries_.empty()) return make_error(ErrorKind::not_found, path + " lists no kernel code symbols");
  if (!any_nonzero)
    return make_error(ErrorKind::permission, path + " shows every address as 0 (kptr_restrict; run as root)", EPERM);
  std::stable_sort(table.entries_.begin(), table.entries_.end(),
                   [](const Entry& a, const Entry& b) { return a.addr < b.addr; });
  return table;
}

Frame KernelSymbols::lookup(uint64_t addr) const {
  Frame frame;
  frame.addr = addr;
  auto after = std::upper_bound(entries_.begin(), entries_.end(), addr,
                                [](uint64_t value, const Entry& e) { return value < e.addr; });
  if (after == entries_.begin() || addr == 0) {
    frame.symbol = kUnknown;
    return frame;
  }
  const Entry& entry = *(after - 1);
  frame.symbol = name_at(entry.name);
  frame.offset = addr - entry.addr;
  frame.module = name_at(entry.module);
  return frame;
}

uint64_t KernelSymbols::address_of(const std::string& name) const {
  for (const Entry& entry : entries_)
    if (name == name_at(entry.name)) return entry.addr;
  return 0;
}

}  // namespace ebpfrun::symbols

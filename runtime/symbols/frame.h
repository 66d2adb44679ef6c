// runtime/symbols — one symbolized stack frame, shared by the kernel and the
// user-space symbolizers.
//
// A frame always has a symbol: a real name, or one of the honest markers
// "[unknown]" (an address no module or symbol covers: JIT code, anonymous
// memory) and "[exited]" (the process is gone and nothing of it was cached).
// An address inside an inlined function yields several frames for the same
// address, innermost first, all but the outermost marked inlined.
#pragma once

#include <cstdint>
#include <string>

namespace ebpfrun::symbols {

inline constexpr const char* kUnknown = "[unknown]";
inline constexpr const char* kExited = "[exited]";

struct Frame {
  uint64_t addr = 0;
  std::string symbol;    // function name, or kUnknown / kExited
  uint64_t offset = 0;   // addr - start of the symbol (0 when unknown)
  std::string module;    // "kernel", a kernel module name, or the mapped file's path
  std::string file;      // source file, when DWARF line info is there
  int line = 0;          // source line, 0 when unknown
  bool inlined = false;  // this frame is an inlined call inside the next frame
};

}  // namespace ebpfrun::symbols

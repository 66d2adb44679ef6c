// A property check for fuzz targets: when a property does not hold, print what
// was expected and abort, so that libFuzzer saves the input as a crash. assert()
// would vanish under NDEBUG, which the RelWithDebInfo fuzz build defines.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string_view>

#define FUZZ_CHECK(condition, what)                                                                             \
  do {                                                                                                          \
    if (!(condition)) {                                                                                         \
      std::fprintf(stderr, "fuzz property violated at %s:%d: %s (%s)\n", __FILE__, __LINE__, what, #condition); \
      std::abort();                                                                                             \
    }                                                                                                           \
  } while (0)

namespace ebpfrun::fuzz {

// True when text has no control bytes other than newline: messages shown to a
// person must never carry raw escape sequences, NULs or carriage returns from
// the input into a terminal.
inline bool printable(std::string_view text) {
  for (unsigned char c : text)
    if ((c < 0x20 && c != '\n') || c == 0x7f) return false;
  return true;
}

}  // namespace ebpfrun::fuzz

// Content hashing for cache keys. XXH64 is used because the cache-hit path hashes
// the whole kernel BTF (~5 MB) on every run and must stay within a few
// milliseconds; collision resistance against adversaries is not needed because
// the cache directory is owned by the user who runs ebpfrun.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace ebpfrun {

// Takes a string_view only: a (pointer, size) overload would silently win over
// it for string literals such as xxh64("abc", 0) and hash zero bytes.
uint64_t xxh64(std::string_view bytes, uint64_t seed = 0);

// Accumulates labelled parts into one 128-bit key, rendered as 32 hex digits.
// Each part is length-prefixed so ("ab","c") and ("a","bc") differ.
class KeyHasher {
 public:
  KeyHasher& add(std::string_view label, std::string_view bytes);
  KeyHasher& add(std::string_view label, uint64_t number);
  std::string hex() const;

 private:
  std::string material_;
};

std::string to_hex(uint64_t v);

}  // namespace ebpfrun

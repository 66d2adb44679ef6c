// Content hashing for cache keys. XXH64 is used because the cache-hit path hashes
// the whole kernel BTF (~5 MB) on every run and must stay within a few
// milliseconds; collision resistance against adversaries is not needed because
// the cache directory is owned by the user who runs ebpfrun.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace ebpfrun {

uint64_t xxh64(const void* data, size_t size, uint64_t seed = 0);
inline uint64_t xxh64(std::string_view s, uint64_t seed = 0) { return xxh64(s.data(), s.size(), seed); }

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

#include <catch2/catch.hpp>

#include "common/hash.h"

using ebpfrun::KeyHasher;
using ebpfrun::xxh64;

TEST_CASE("xxh64 matches the reference test vectors", "[hash]") {
  CHECK(xxh64("", 0) == 0xEF46DB3751D8E999ULL);
  CHECK(xxh64("a", 0) == 0xD24EC4F1A98C6E5BULL);
  CHECK(xxh64("abc", 0) == 0x44BC2CF5AD770999ULL);
  // Long enough to take the 32-byte stripe loop.
  CHECK(xxh64("Nobody inspects the spammish repetition", 0) == 0xFBCEA83C8A378BF1ULL);
}

TEST_CASE("KeyHasher separates parts unambiguously", "[hash]") {
  CHECK(KeyHasher().add("x", "ab").add("y", "c").hex() != KeyHasher().add("x", "a").add("y", "bc").hex());
  CHECK(KeyHasher().add("x", "ab").hex() == KeyHasher().add("x", "ab").hex());
  CHECK(KeyHasher().add("x", "ab").hex().size() == 32);
}

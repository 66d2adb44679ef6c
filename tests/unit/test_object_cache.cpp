#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <string>

#include "common/files.h"
#include "compiler/object_cache.h"
#include "support/test_support.h"

using ebpfrun::compiler::ObjectCache;

TEST_CASE("object cache stores, finds, detects stale dependencies and corruption", "[cache]") {
  ebpfrun::test::TempDir dir;
  auto cache = ObjectCache::open(dir.file("cache"));
  REQUIRE(cache);
  const std::string key = "0123456789abcdef0123456789abcdef";
  dir.write("dep.h", "#define X 1\n");

  CHECK(cache->find(key).state == ObjectCache::State::miss);
  REQUIRE(cache->store(key,
                       std::string("\x7f"
                                   "ELF\0binary",
                                   11),
                       {dir.file("dep.h")}));
  auto hit = cache->find(key);
  REQUIRE(hit.state == ObjectCache::State::hit);
  CHECK(hit.object == std::string("\x7f"
                                  "ELF\0binary",
                                  11));

  SECTION("an edited dependency makes the entry stale") {
    dir.write("dep.h", "#define X 2\n");
    auto stale = cache->find(key);
    CHECK(stale.state == ObjectCache::State::stale);
    CHECK(stale.detail.find("dep.h") != std::string::npos);
  }
  SECTION("a deleted dependency makes the entry stale") {
    std::remove(dir.file("dep.h").c_str());
    CHECK(cache->find(key).state == ObjectCache::State::stale);
  }
  SECTION("a flipped byte in the object is detected") {
    auto entry = ebpfrun::files::read(cache->entry_path(key));
    REQUIRE(entry);
    std::string damaged = *entry;
    damaged.back() ^= 0x01;
    REQUIRE(ebpfrun::files::write_atomic(cache->entry_path(key), damaged));
    CHECK(cache->find(key).state == ObjectCache::State::corrupt);
  }
  SECTION("a truncated entry is detected") {
    auto entry = ebpfrun::files::read(cache->entry_path(key));
    REQUIRE(ebpfrun::files::write_atomic(cache->entry_path(key), entry->substr(0, entry->size() - 3)));
    CHECK(cache->find(key).state == ObjectCache::State::corrupt);
  }
  SECTION("garbage is detected") {
    REQUIRE(ebpfrun::files::write_atomic(cache->entry_path(key), "not a cache entry"));
    CHECK(cache->find(key).state == ObjectCache::State::corrupt);
  }
}

TEST_CASE("object cache directory follows XDG_CACHE_HOME", "[cache]") {
  // The suites run with the build tree's cache (unit/main.cpp): put it back.
  const std::string suite_cache = std::getenv("XDG_CACHE_HOME");
  CHECK(suite_cache.ends_with("/test-cache"));
  ::setenv("XDG_CACHE_HOME", "/tmp/xdg-test", 1);
  CHECK(ObjectCache::default_dir() == "/tmp/xdg-test/ebpfrun");
  ::unsetenv("XDG_CACHE_HOME");
  if (::geteuid() == 0) CHECK(ObjectCache::default_dir() == "/var/cache/ebpfrun");
  ::setenv("XDG_CACHE_HOME", suite_cache.c_str(), 1);
}

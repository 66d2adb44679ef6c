#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <cstdlib>

// The Catch2 suites keep their object cache in the build tree, as the Lua
// tests do (tests/CMakeLists.txt), never in the system's or the user's cache.
// It is set here rather than by ctest: catch_discover_tests passes on one
// environment variable only (a list's further items become property names).
int main(int argc, char* argv[]) {
  ::setenv("XDG_CACHE_HOME", EBPFRUN_TEST_CACHE_HOME, 1);
  return Catch::Session().run(argc, argv);
}

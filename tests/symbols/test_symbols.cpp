// Symbolization (runtime/symbols/) of real processes and of this kernel: a
// target with known functions, built with DWARF, with only a symbol table, and
// stripped down to MiniDebugInfo, is symbolized from its printed addresses;
// the same inside a new mount+pid namespace whose files the host cannot see
// at their paths; after the process exits; and kernel addresses from kallsyms.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

#include "support/test_support.h"
#include "symbols/kernel_symbols.h"
#include "symbols/symbolizer.h"

using namespace ebpfrun;
using namespace ebpfrun::symbols;

namespace {

// A started target: its host pid and the two addresses it printed.
struct Target {
  pid_t pid = -1;     // the process we started (the target, or unshare)
  pid_t target = -1;  // the target's pid on the host
  uint64_t spin_here = 0;
  uint64_t inlined = 0;
  ~Target() {
    if (pid > 0) {
      ::kill(target, SIGKILL);
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  }
};

// Runs argv with stdout to a pipe and reads the target's first line.
void start(Target& t, const std::vector<std::string>& argv) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  t.pid = ::fork();
  REQUIRE(t.pid >= 0);
  if (t.pid == 0) {
    ::dup2(fds[1], 1);
    ::close(fds[0]);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  FILE* out = ::fdopen(fds[0], "r");
  char line[256] = {};
  REQUIRE(std::fgets(line, sizeof line, out) != nullptr);
  std::fclose(out);
  void* a = nullptr;
  void* b = nullptr;
  REQUIRE(std::sscanf(line, "%p %p", &a, &b) == 2);
  t.spin_here = reinterpret_cast<uint64_t>(a);
  t.inlined = reinterpret_cast<uint64_t>(b);
  t.target = t.pid;
}

// The host pid of the deepest descendant of `pid` (unshare forks the target).
pid_t deepest_child(pid_t pid) {
  for (;;) {
    std::ifstream children("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/children");
    pid_t child = 0;
    if (!(children >> child)) return pid;
    pid = child;
  }
}

std::string target_path(const char* variant) { return std::string(EBPFRUN_STACKS_DIR) + "/stacks_target_" + variant; }

}  // namespace

TEST_CASE("a process with DWARF symbolizes to functions, source lines and inlined frames", "[symbols]") {
  Target t;
  start(t, {target_path("debug")});
  Symbolizer symbolizer;
  auto frames = symbolizer.user(t.target, {t.spin_here + 1});
  REQUIRE(frames.size() == 1);
  CHECK(frames[0].symbol == "spin_here");
  CHECK(frames[0].offset == 1);
  CHECK(frames[0].module.find("stacks_target_debug") != std::string::npos);
  CHECK(frames[0].file.find("target.c") != std::string::npos);
  CHECK(frames[0].line > 0);

  auto inlined = symbolizer.user(t.target, {t.inlined});
  REQUIRE(inlined.size() == 2);
  CHECK(inlined[0].symbol == "inlined_step");
  CHECK(inlined[0].inlined);
  CHECK(inlined[1].symbol == "spin_here");
  CHECK_FALSE(inlined[1].inlined);
  CHECK(inlined[1].line > 0);

  // An address no file maps (the zero page) is unknown, honestly.
  auto unknown = symbolizer.user(t.target, {0x10});
  REQUIRE(unknown.size() == 1);
  CHECK(unknown[0].symbol == kUnknown);
}

TEST_CASE("a process without DWARF, and one stripped to MiniDebugInfo, still name their functions", "[symbols]") {
  for (const char* variant : {"nodebug", "minidebuginfo"}) {
    INFO(variant);
    Target t;
    start(t, {target_path(variant)});
    Symbolizer symbolizer;
    auto frames = symbolizer.user(t.target, {t.spin_here + 2});
    REQUIRE(frames.size() == 1);
    CHECK(frames[0].symbol == "spin_here");
    CHECK(frames[0].offset == 2);
    CHECK(frames[0].line == 0);
  }
}

TEST_CASE("a process in its own mount and pid namespace symbolizes through /proc/PID/root", "[symbols]") {
  if (!test::have_root()) return;
  test::TempDir dir;
  // The binary lives on a tmpfs mounted only inside the new mount namespace:
  // at that path the host sees an empty directory.
  std::string script = "mount -t tmpfs stacks " + dir.path() + " && cp " + target_path("debug") + " " + dir.path() +
                       "/hidden_target && exec " + dir.path() + "/hidden_target";
  Target t;
  start(t, {"unshare", "-mpf", "--mount-proc", "sh", "-c", script});
  t.target = deepest_child(t.pid);
  REQUIRE(t.target != t.pid);
  REQUIRE(::access((dir.path() + "/hidden_target").c_str(), F_OK) != 0);
  Symbolizer symbolizer;
  auto frames = symbolizer.user(t.target, {t.spin_here});
  REQUIRE(frames.size() == 1);
  CHECK(frames[0].symbol == "spin_here");
  CHECK(frames[0].line > 0);
}

TEST_CASE("an exited process symbolizes from the cache, or says [exited]", "[symbols]") {
  Symbolizer symbolizer(2);
  Target t;
  start(t, {target_path("nodebug")});
  REQUIRE(symbolizer.remember(t.target).ok());
  ::kill(t.pid, SIGKILL);
  ::waitpid(t.pid, nullptr, 0);
  pid_t gone = t.pid;
  t.pid = -1;
  auto frames = symbolizer.user(gone, {t.spin_here});
  REQUIRE(frames.size() == 1);
  CHECK(frames[0].symbol == "spin_here");

  // Two other pids push it out of the two-entry cache; then it is [exited].
  Target a, b;
  start(a, {target_path("nodebug")});
  start(b, {target_path("nodebug")});
  symbolizer.user(a.target, {a.spin_here});
  symbolizer.user(b.target, {b.spin_here});
  CHECK(symbolizer.cached_processes() == 2);
  auto after = symbolizer.user(gone, {t.spin_here});
  REQUIRE(after.size() == 1);
  CHECK(after[0].symbol == kExited);
}

TEST_CASE("kernel addresses symbolize from kallsyms", "[symbols]") {
  if (!test::have_root()) return;
  auto table = KernelSymbols::load();
  REQUIRE(table.ok());
  uint64_t addr = table->address_of("do_sys_openat2");
  REQUIRE(addr != 0);
  Frame frame = table->lookup(addr + 5);
  CHECK(frame.symbol == "do_sys_openat2");
  CHECK(frame.offset == 5);
  CHECK(frame.module == "kernel");
  CHECK(table->lookup(0).symbol == kUnknown);
  // A module symbol carries its module's name.
  std::ifstream kallsyms("/proc/kallsyms");
  std::string line;
  while (std::getline(kallsyms, line)) {
    auto tab = line.find("\t[");
    if (tab == std::string::npos || (line[17] != 't' && line[17] != 'T')) continue;
    uint64_t module_addr = std::stoull(line.substr(0, 16), nullptr, 16);
    std::string module = line.substr(tab + 2, line.size() - tab - 3);
    Frame in_module = table->lookup(module_addr);
    CHECK(in_module.module == module);
    break;
  }
}

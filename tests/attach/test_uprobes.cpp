// uprobes, uretprobes and USDT probes on the attach_target test binary.
#include <bpf/libbpf.h>

#include <catch2/catch.hpp>

#include "attach/attach.h"
#include "attach/attach_support.h"
#include "support/test_support.h"

using namespace ebpfrun;
using namespace ebpfrun::test::attach;
using ebpfrun::attach::attach_program;
using ebpfrun::attach::AttachOptions;

namespace {

std::string on_target(const std::string& kind, const std::string& what) {
  return kind + "/" + Target::path() + ":" + what;
}

// Runs `attach_target calls N A B` to completion after the probes are in place.
void run_calls(Target& target) {
  target.go();
  REQUIRE(target.wait() == 0);
}

}  // namespace

TEST_CASE("attach: uprobe reads the arguments and uretprobe the return value of a function found by name",
          "[attach][kernel]") {
  if (!test::have_root()) return;
  KernelIds ids;
  {
    auto object = load_test_object("uprobe.bpf.c");
    ids = kernel_ids(object);
    auto entry = attach_program(program(object, "att_add_entry"), on_target("uprobe", "ebpfrun_target_add"));
    INFO((entry ? std::string() : entry.error()));
    REQUIRE(entry);
    auto ret = attach_program(program(object, "att_add_return"), on_target("uretprobe", "ebpfrun_target_add"));
    INFO((ret ? std::string() : ret.error()));
    REQUIRE(ret);

    Target target({"calls", "3", "7", "5"});
    const auto pid = static_cast<uint32_t>(target.pid());
    run_calls(target);
    CHECK(target.output() == "24015\n");  // 7005 + 8005 + 9005

    auto args = read_seen(map(object, "att_add_args"));
    REQUIRE(args.size() == 3);
    for (long a : {7L, 8L, 9L}) {
      REQUIRE(args.count(a) == 1);
      CHECK(args[a].pid == pid);
      CHECK(args[a].value == 5);
    }
    auto rets = read_seen(map(object, "att_add_rets"));
    REQUIRE(rets.size() == 3);
    for (long r : {7005L, 8005L, 9005L}) {
      REQUIRE(rets.count(r) == 1);
      CHECK(rets[r].pid == pid);
      CHECK(rets[r].value == r);
    }

    // Detached probes see nothing more.
    entry->detach();
    ret->detach();
    Target again({"calls", "1", "50", "1"});
    run_calls(again);
    CHECK(read_seen(map(object, "att_add_args")).size() == 3);
    CHECK(read_seen(map(object, "att_add_rets")).size() == 3);
  }
  CHECK(leftovers(ids).empty());
}

TEST_CASE("attach: a pid-scoped uprobe ignores another process running the same binary", "[attach][kernel]") {
  if (!test::have_root()) return;
  KernelIds ids;
  {
    auto object = load_test_object("uprobe.bpf.c");
    ids = kernel_ids(object);
    Target watched({"calls", "3", "100", "1"});
    Target other({"calls", "3", "200", "2"});
    AttachOptions options;
    options.pid = watched.pid();
    auto entry = attach_program(program(object, "att_add_entry"), on_target("uprobe", "ebpfrun_target_add"), options);
    INFO((entry ? std::string() : entry.error()));
    REQUIRE(entry);
    run_calls(other);
    run_calls(watched);

    auto args = read_seen(map(object, "att_add_args"));
    REQUIRE(args.size() == 3);
    for (long a : {100L, 101L, 102L}) {
      REQUIRE(args.count(a) == 1);
      CHECK(args[a].pid == static_cast<uint32_t>(options.pid));
      CHECK(args[a].value == 1);
    }
  }
  CHECK(leftovers(ids).empty());
}

TEST_CASE("attach: a USDT probe delivers its arguments", "[attach][kernel]") {
  if (!test::have_root()) return;
  KernelIds ids;
  {
    auto object = load_test_object("uprobe.bpf.c");
    ids = kernel_ids(object);
    Target target({"calls", "4", "30", "9"});
    AttachOptions options;
    options.pid = target.pid();
    auto usdt = attach_program(program(object, "att_tick"), on_target("usdt", "ebpfrun_test:tick"), options);
    INFO((usdt ? std::string() : usdt.error()));
    REQUIRE(usdt);
    CHECK(usdt->spec() == on_target("usdt", "ebpfrun_test:tick"));
    const auto pid = static_cast<uint32_t>(target.pid());
    run_calls(target);

    auto ticks = read_seen(map(object, "att_ticks"));
    REQUIRE(ticks.size() == 4);
    for (long a : {30L, 31L, 32L, 33L}) {
      REQUIRE(ticks.count(a) == 1);
      CHECK(ticks[a].pid == pid);
      CHECK(ticks[a].value == 9);
    }
    usdt->detach();  // before the object: USDT links use its state
  }
  CHECK(leftovers(ids).empty());
}

TEST_CASE("attach: uprobe on a library by name, and clear errors for wrong symbols, probes and binaries",
          "[attach][kernel]") {
  if (!test::have_root()) return;
  KernelIds ids;
  {
    auto object = load_test_object("uprobe.bpf.c");
    ids = kernel_ids(object);
    bpf_program* prog = program(object, "att_add_entry");
    auto libc = attach_program(prog, "uprobe/libc:malloc");
    INFO((libc ? std::string() : libc.error()));
    REQUIRE(libc);
    CHECK(libc->attached());
    CHECK(links_of_program(program_id(prog)) == 1);
    libc->detach();
    CHECK(links_of_program(program_id(prog)) == 0);

    auto typo = attach_program(prog, on_target("uprobe", "ebpfrun_target_ad"));
    REQUIRE_FALSE(typo);
    CHECK(typo.error().find("function \"ebpfrun_target_ad\" is not defined in " + Target::path()) != std::string::npos);
    CHECK(typo.error().find("did you mean \"ebpfrun_target_add\"") != std::string::npos);

    auto probe = attach_program(program(object, "att_tick"), on_target("usdt", "ebpfrun_test:tock"));
    REQUIRE_FALSE(probe);
    CHECK(probe.error().find("did you mean \"ebpfrun_test:tick\"") != std::string::npos);

    auto missing = attach_program(prog, "uprobe//nonexistent/bin/app:main");
    REQUIRE_FALSE(missing);
    CHECK(missing.error() ==
          "cannot attach uprobe//nonexistent/bin/app:main: binary /nonexistent/bin/app does not exist");

    auto wrong_type = attach_program(program(object, "att_add_entry"), "tracepoint/sched/sched_switch");
    REQUIRE_FALSE(wrong_type);
    CHECK(wrong_type.error().find("a kprobe program") != std::string::npos);
  }
  CHECK(leftovers(ids).empty());
}

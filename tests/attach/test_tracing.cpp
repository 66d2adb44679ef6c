// Tracepoints, raw tracepoints, tp_btf and kprobes on the real kernel.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <thread>

#include "attach/attach.h"
#include "attach/attach_support.h"
#include "attach/kernel_names.h"
#include "support/test_support.h"

using namespace ebpfrun;
using namespace ebpfrun::test::attach;
using ebpfrun::attach::attach_program;

namespace {

struct OpenEvent {
  uint32_t pid;
  char filename[128];
};

struct Collected {
  std::vector<OpenEvent> events;
};

int on_open(void* ctx, void* data, size_t size) {
  auto* collected = static_cast<Collected*>(ctx);
  if (size >= sizeof(OpenEvent)) collected->events.push_back(*static_cast<OpenEvent*>(data));
  return 0;
}

uint64_t switch_count(const loader::Object& object, uint32_t key) {
  uint64_t value = 0;
  REQUIRE(bpf_map_lookup_elem(bpf_map__fd(map(object, "att_switches")), &key, &value) == 0);
  return value;
}

void yield_a_while() {
  for (int i = 0; i < 20; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

}  // namespace

TEST_CASE("attach: tracepoint syscalls/sys_enter_openat records this process's open() of a unique file",
          "[attach][kernel]") {
  if (!test::have_root()) return;
  KernelIds ids;
  {
    auto object = load_test_object("tracing.bpf.c", static_cast<uint32_t>(::getpid()));
    ids = kernel_ids(object);
    bpf_program* prog = program(object, "att_openat");
    auto link = attach_program(prog, "tracepoint/syscalls/sys_enter_openat");
    INFO((link ? std::string() : link.error()));
    REQUIRE(link);
    CHECK(link->attached());
    CHECK(link->spec() == "tracepoint/syscalls/sys_enter_openat");
    CHECK(link->size() == 1);
    REQUIRE(link->id() != 0);
    CHECK(links_of_program(program_id(prog)) == 1);

    Collected collected;
    ring_buffer* rb = ring_buffer__new(bpf_map__fd(map(object, "att_opens")), on_open, &collected, nullptr);
    REQUIRE(rb != nullptr);
    const std::string path = "/tmp/ebpfrun-attach-" + std::to_string(::getpid()) + "-" +
                             std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
    int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    REQUIRE(fd >= 0);
    ::close(fd);
    ::unlink(path.c_str());
    const OpenEvent* mine = nullptr;
    for (int i = 0; i < 50 && !mine; ++i) {
      ring_buffer__poll(rb, 100);
      for (const auto& e : collected.events)
        if (path == e.filename) mine = &e;
    }
    ring_buffer__free(rb);
    REQUIRE(mine != nullptr);
    CHECK(mine->pid == static_cast<uint32_t>(::getpid()));
    for (const auto& e : collected.events) CHECK(e.pid == static_cast<uint32_t>(::getpid()));

    // Detaching removes the kernel link while the program stays loaded.
    uint32_t link_id = link->id();
    link->detach();
    CHECK_FALSE(link->attached());
    CHECK(link->id() == 0);
    CHECK(links_of_program(program_id(prog)) == 0);
    CHECK(bpf_link_get_fd_by_id(link_id) < 0);
    link->detach();  // idempotent
  }
  CHECK(leftovers(ids).empty());
}

TEST_CASE("attach: raw_tracepoint and tp_btf sched_switch fire, and stop when detached", "[attach][kernel]") {
  if (!test::have_root()) return;
  KernelIds ids;
  {
    auto object = load_test_object("tracing.bpf.c");
    ids = kernel_ids(object);
    CHECK(switch_count(object, 0) == 0);
    CHECK(switch_count(object, 1) == 0);
    auto raw = attach_program(program(object, "att_raw_switch"), "raw_tp/sched_switch");
    INFO((raw ? std::string() : raw.error()));
    REQUIRE(raw);
    CHECK(raw->spec() == "raw_tracepoint/sched_switch");
    auto btf = attach_program(program(object, "att_btf_switch"), "tp_btf/sched_switch");
    INFO((btf ? std::string() : btf.error()));
    REQUIRE(btf);
    yield_a_while();
    CHECK(switch_count(object, 0) > 0);
    CHECK(switch_count(object, 1) > 0);

    raw->detach();
    btf->detach();
    uint64_t raw_after = switch_count(object, 0), btf_after = switch_count(object, 1);
    yield_a_while();
    CHECK(switch_count(object, 0) == raw_after);
    CHECK(switch_count(object, 1) == btf_after);
  }
  CHECK(leftovers(ids).empty());
}

TEST_CASE("attach: unknown tracepoints, categories and raw tracepoints come back with the nearest names",
          "[attach][kernel]") {
  if (!test::have_root()) return;
  KernelIds ids;
  {
    auto object = load_test_object("tracing.bpf.c");
    ids = kernel_ids(object);
    bpf_program* tp = program(object, "att_openat");
    auto typo = attach_program(tp, "tracepoint/syscalls/sys_enter_opnat");
    REQUIRE_FALSE(typo);
    CHECK(typo.error().find("tracepoint syscalls/sys_enter_opnat does not exist") != std::string::npos);
    CHECK(typo.error().find("did you mean tracepoint/syscalls/sys_enter_openat") != std::string::npos);

    auto category = attach_program(tp, "tracepoint/syscall/sys_enter_openat");
    REQUIRE_FALSE(category);
    CHECK(category.error().find("category \"syscall\" does not exist") != std::string::npos);
    CHECK(category.error().find("tracepoint/syscalls/sys_enter_openat") != std::string::npos);

    auto raw = attach_program(program(object, "att_raw_switch"), "raw_tp/sched_swich");
    REQUIRE_FALSE(raw);
    CHECK(raw.error().find("no raw tracepoint \"sched_swich\"") != std::string::npos);
    CHECK(raw.error().find("did you mean \"sched_switch\"") != std::string::npos);

    // A program of the wrong type, and a tp_btf program asked for another target.
    auto wrong = attach_program(program(object, "att_raw_switch"), "tracepoint/sched/sched_switch");
    REQUIRE_FALSE(wrong);
    CHECK(wrong.error().find("needs a program declared with SEC(\"tracepoint/sched/sched_switch\")") !=
          std::string::npos);
    auto retarget = attach_program(program(object, "att_btf_switch"), "tp_btf/sched_wakeup");
    REQUIRE_FALSE(retarget);
    CHECK(retarget.error().find("fixed when it is loaded") != std::string::npos);
    CHECK(retarget.error().find("SEC(\"tp_btf/sched_wakeup\")") != std::string::npos);

    auto malformed = attach_program(tp, "tracepoint:syscalls:sys_enter_openat");
    REQUIRE_FALSE(malformed);
    CHECK(malformed.error().find("Accepted forms") != std::string::npos);
  }
  CHECK(leftovers(ids).empty());
}

TEST_CASE("attach: kprobe attach says kprobes are unavailable and names the tracepoint to use", "[attach][kernel]") {
  if (!test::have_root()) return;
  KernelIds ids;
  {
    // A uprobe program has the kprobe program type, so it is a valid kprobe program.
    auto object = load_test_object("uprobe.bpf.c");
    ids = kernel_ids(object);
    bpf_program* prog = program(object, "att_add_entry");
    if (attach::kprobes_available()) {
      WARN("this kernel has kprobes; checking that kprobe attach works instead");
      auto link = attach_program(prog, "kprobe/do_sys_openat2");
      INFO((link ? std::string() : link.error()));
      CHECK(link);
    } else {
      auto open = attach_program(prog, "kprobe/do_sys_openat2");
      REQUIRE_FALSE(open);
      CHECK(open.error() ==
            "cannot attach kprobe/do_sys_openat2: kprobes are not available on this kernel (it was built without "
            "CONFIG_KPROBES); use tracepoint/syscalls/sys_enter_openat instead");
      auto ret = attach_program(prog, "kretprobe/__x64_sys_read");
      REQUIRE_FALSE(ret);
      CHECK(ret.error().find("kprobes are not available") != std::string::npos);
      CHECK(ret.error().find("use tracepoint/syscalls/sys_exit_read instead") != std::string::npos);
      auto connect = attach_program(prog, "kprobe/tcp_v4_connect");
      REQUIRE_FALSE(connect);
      CHECK(connect.error().find("use tracepoint/sock/inet_sock_set_state instead") != std::string::npos);
      auto other = attach_program(prog, "kprobe/some_internal_function");
      REQUIRE_FALSE(other);
      CHECK(other.error().find("kprobes are not available") != std::string::npos);
      CHECK(other.error().find("raw_tracepoint or tp_btf") != std::string::npos);
    }
  }
  CHECK(leftovers(ids).empty());
}

TEST_CASE("attach: a missing tracefs is mounted when root, and explained when not", "[attach][kernel]") {
  if (!test::have_root()) return;
  // In a child with its own mount namespace, so the machine's tracefs is untouched.
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    namespace fs = std::filesystem;
    if (::unshare(CLONE_NEWNS) != 0) ::_exit(10);
    if (::mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) ::_exit(11);
    while (::umount2("/sys/kernel/tracing", MNT_DETACH) == 0) {
    }
    // Where debugfs is mounted (Debian's guests mount it; this host does
    // not), the kernel automounts tracefs at debug/tracing on first access,
    // which would make a tracefs appear again: take debugfs away too.
    while (::umount2("/sys/kernel/debug/tracing", MNT_DETACH) == 0) {
    }
    while (::umount2("/sys/kernel/debug", MNT_DETACH) == 0) {
    }
    std::error_code ec;
    if (fs::exists("/sys/kernel/tracing/events", ec) || fs::exists("/sys/kernel/debug/tracing/events", ec)) ::_exit(12);
    if (::seteuid(65534) != 0) ::_exit(13);
    auto refused = attach::tracefs();
    if (refused || refused.error() !=
                       "tracefs is not mounted; mount it as root with "
                       "`mount -t tracefs tracefs /sys/kernel/tracing`")
      ::_exit(14);
    if (::seteuid(0) != 0) ::_exit(15);
    auto mounted = attach::tracefs();
    if (!mounted || *mounted != "/sys/kernel/tracing") ::_exit(16);
    if (!fs::exists("/sys/kernel/tracing/events/sched/sched_switch", ec)) ::_exit(17);
    ::_exit(0);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(std::filesystem::exists("/sys/kernel/tracing/events"));
}

// Introspection and run-time statistics against real programs: four programs
// (tracepoint, raw_tp, tp_btf, uprobe on a function in this test binary) are
// compiled, loaded and attached; the kernel's view of them must match, and
// run counts must appear exactly while a StatsSession is held.
//
// BPF_ENABLE_STATS is system-wide: if another process held it during the
// "without stats" step, run counts would not stay 0. Nothing else in this
// project's suites holds it for longer than a probe.
#include <catch2/catch.hpp>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <fstream>
#include <memory>
#include <thread>

#include <fmt/format.h>

#include "loader/object.h"
#include "support/test_support.h"
#include "system/introspection.h"
#include "system/stats.h"

using namespace ebpfrun;
using namespace ebpfrun::system;

// The uprobe target: a real function in this binary, called through a
// volatile pointer so that it is neither inlined nor removed.
extern "C" __attribute__((noinline, used)) int ebpfrun_system_test_marker(int x) {
  asm volatile("" : "+r"(x));
  return x + 1;
}

namespace {

int (*volatile marker)(int) = ebpfrun_system_test_marker;

std::string probe_source() {
  return fmt::format(R"(#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct {{
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 2);
    __type(key, __u32);
    __type(value, __u64);
}} hits SEC(".maps");

static void bump(__u32 slot)
{{
    __u64 *v = bpf_map_lookup_elem(&hits, &slot);
    if (v)
        __sync_fetch_and_add(v, 1);
}}

SEC("tracepoint/syscalls/sys_enter_getppid")
int count_getppid_calls(void *ctx)
{{
    if ((bpf_get_current_pid_tgid() >> 32) != {})
        return 0;
    bump(0);
    return 0;
}}

SEC("uprobe")
int on_test_marker(void *ctx)
{{
    bump(1);
    return 0;
}}

SEC("raw_tp/sched_process_exit")
int on_exit_raw(void *ctx) {{ return 0; }}

SEC("tp_btf/sched_process_fork")
int on_fork_btf(void *ctx) {{ return 0; }}

char LICENSE[] SEC("license") = "GPL";
)",
                     ::getpid());
}

struct LinkDeleter {
  void operator()(bpf_link* link) const { bpf_link__destroy(link); }
};
using LinkPtr = std::unique_ptr<bpf_link, LinkDeleter>;

std::string self_exe() {
  char buf[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  REQUIRE(n > 0);
  return std::string(buf, static_cast<size_t>(n));
}

// prog_tag as /proc/self/fdinfo reports it: an independent path to the tag.
std::string fdinfo_tag(int fd) {
  std::ifstream in(fmt::format("/proc/self/fdinfo/{}", fd));
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("prog_tag:", 0) == 0) return line.substr(line.find_first_not_of(" \t", 9));
  return {};
}

uint64_t read_hits(int map_fd, uint32_t slot) {
  uint64_t value = 0;
  REQUIRE(bpf_map_lookup_elem(map_fd, &slot, &value) == 0);
  return value;
}

void trigger(int getppids, int markers) {
  for (int i = 0; i < getppids; ++i) ::syscall(SYS_getppid);
  for (int i = 0; i < markers; ++i) marker(i);
}

const ProgramReport& program_named(const Inventory& inv, const std::string& name) {
  for (const auto& p : inv.programs)
    if (p.name == name) return p;
  FAIL("no program named " << name << " in the inventory");
  return inv.programs.front();
}

// Kernel objects are freed when their last reference goes, partly after an
// RCU grace period; wait (bounded) until the ids are gone.
bool gone(int (*open_by_id)(uint32_t), uint32_t id) {
  for (int i = 0; i < 200; ++i) {
    int fd = open_by_id(id);
    if (fd < 0 && errno == ENOENT) return true;
    if (fd >= 0) ::close(fd);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

}  // namespace

TEST_CASE("introspection of an attached run, with run counts only while stats are on",
          "[system][introspection][root]") {
  if (!test::have_root()) return;
  REQUIRE_FALSE(stats_sysctl_enabled());  // else run counts cannot stay 0 without a session
  test::TempDir dir;
  const std::string elf = test::compile_bpf(probe_source(), dir, "introspect.bpf.c");

  std::vector<uint32_t> program_ids, map_ids, link_ids;
  {
    const auto before_load = std::chrono::system_clock::now();
    auto object = loader::Object::open(elf, "introspect");
    REQUIRE(object);
    auto loaded = object->load();
    INFO((loaded ? "" : loaded.error()));
    REQUIRE(loaded);
    const auto after_load = std::chrono::system_clock::now();

    std::vector<LinkPtr> links;
    for (const char* name : {"count_getppid_calls", "on_exit_raw", "on_fork_btf"}) {
      bpf_link* link = bpf_program__attach(object->find_program(name));
      INFO(name);
      REQUIRE(link != nullptr);
      links.emplace_back(link);
    }
    const std::string exe = self_exe();
    LIBBPF_OPTS(bpf_uprobe_opts, uprobe_opts, .func_name = "ebpfrun_system_test_marker");
    bpf_link* uprobe = bpf_program__attach_uprobe_opts(object->find_program("on_test_marker"), ::getpid(), exe.c_str(),
                                                       0, &uprobe_opts);
    REQUIRE(uprobe != nullptr);
    links.emplace_back(uprobe);

    OwnedObjects owned;
    for (const auto& p : object->programs()) owned.program_fds.push_back(p.fd);
    for (const auto& l : links) owned.link_fds.push_back(bpf_link__fd(l.get()));
    const int hits_fd = bpf_map__fd(object->find_map("hits"));
    owned.map_fds.push_back(hits_fd);

    // Without stats: the programs run (the map counts), the kernel does not count.
    trigger(5, 7);
    CHECK(read_hits(hits_fd, 0) == 5);
    CHECK(read_hits(hits_fd, 1) == 7);
    auto inv = describe(owned);
    INFO((inv ? "" : inv.error()));
    REQUIRE(inv);
    REQUIRE(inv->programs.size() == 4);
    REQUIRE(inv->links.size() == 4);
    REQUIRE(inv->maps.size() == 1);
    // Checked on the two programs this test triggered (and saw run, above);
    // the raw_tp and tp_btf ones fire on any fork/exit in the system.
    for (const char* name : {"count_getppid_calls", "on_test_marker"}) {
      const auto& p = program_named(*inv, name);
      INFO(name);
      CHECK(p.run_count == 0);
      CHECK(p.run_time_ns == 0);
    }

    const auto summaries = object->programs();
    for (const auto& s : summaries) {
      const auto& p = program_named(*inv, s.name);  // full names, not the kernel's 15-character cut
      INFO(s.name);
      CHECK(p.id == s.id);
      CHECK(p.id > 0);
      CHECK(p.tag.size() == 16);
      CHECK(p.tag == fdinfo_tag(s.fd));
      CHECK(p.loaded_at >= before_load - std::chrono::seconds(1));
      CHECK(p.loaded_at <= after_load + std::chrono::seconds(1));
      CHECK(p.verified_instructions > 0);
      REQUIRE(p.attach_points.size() == 1);
      program_ids.push_back(p.id);
    }
    const auto& tp = program_named(*inv, "count_getppid_calls");
    CHECK(tp.type == "tracepoint");
    CHECK(tp.attach_points[0] == "tracepoint/syscalls/sys_enter_getppid");
    REQUIRE(tp.map_ids.size() == 1);
    CHECK(tp.map_ids[0] == inv->maps[0].id);
    const auto& up = program_named(*inv, "on_test_marker");
    CHECK(up.type == "kprobe");  // uprobes are kprobe-type programs
    CHECK(up.attach_points[0].rfind("uprobe/" + exe + ":0x", 0) == 0);
    const auto& raw = program_named(*inv, "on_exit_raw");
    CHECK(raw.type == "raw_tracepoint");
    CHECK(raw.attach_points[0] == "raw_tracepoint/sched_process_exit");
    const auto& btf = program_named(*inv, "on_fork_btf");
    CHECK(btf.type == "tracing");
    CHECK(btf.attach_points[0] == "tp_btf/sched_process_fork");

    for (const auto& l : inv->links) {
      CHECK(l.id > 0);
      link_ids.push_back(l.id);
    }
    CHECK(inv->links[0].type == "perf_event");
    CHECK(inv->links[1].type == "raw_tracepoint");
    // libbpf 1.1 attaches tp_btf with BPF_RAW_TRACEPOINT_OPEN; newer ones with BPF_LINK_CREATE.
    CHECK((inv->links[2].type == "raw_tracepoint" || inv->links[2].type == "tracing"));
    CHECK(inv->links[2].attach_point == "tp_btf/sched_process_fork");
    CHECK(inv->links[3].type == "perf_event");

    const auto& m = inv->maps[0];
    CHECK(m.name == "hits");
    CHECK(m.type == "array");
    CHECK(m.key_size == 4);
    CHECK(m.value_size == 8);
    CHECK(m.max_entries == 2);
    map_ids.push_back(m.id);

    // The same objects by id.
    OwnedObjects by_id;
    by_id.program_ids = {tp.id};
    by_id.link_ids = {inv->links[0].id};
    by_id.map_ids = {m.id};
    auto again = describe(by_id);
    REQUIRE(again);
    REQUIRE(again->programs.size() == 1);
    CHECK(again->programs[0].name == "count_getppid_calls");
    CHECK(again->programs[0].tag == tp.tag);
    CHECK(again->programs[0].attach_points == std::vector<std::string>{"tracepoint/syscalls/sys_enter_getppid"});
    CHECK(again->maps[0].name == "hits");

    // With stats: exact counts for the uprobe (only this process hits it), at
    // least ours for the system-wide tracepoint.
    {
      auto stats = StatsSession::enable();
      INFO((stats ? "" : stats.error()));
      REQUIRE(stats);
      CHECK(stats->active());
      trigger(5, 7);
      auto counted = describe(owned);
      REQUIRE(counted);
      const auto& up2 = program_named(*counted, "on_test_marker");
      CHECK(up2.run_count == 7);
      CHECK(up2.run_time_ns > 0);
      const auto& tp2 = program_named(*counted, "count_getppid_calls");
      CHECK(tp2.run_count >= 5);
      CHECK(tp2.run_time_ns > 0);
      CHECK(read_hits(hits_fd, 0) == 10);
      CHECK(read_hits(hits_fd, 1) == 14);
      const std::string table = format_inventory(*counted);
      CHECK(table.find("on_test_marker") != std::string::npos);
      CHECK(table.find("tracepoint/syscalls/sys_enter_getppid") != std::string::npos);

      StatsSession moved = std::move(*stats);
      CHECK_FALSE(stats->active());
      CHECK(moved.active());
    }  // session closed: counting stops

    trigger(0, 3);
    CHECK(read_hits(hits_fd, 1) == 17);
    auto after = describe(owned);
    REQUIRE(after);
    CHECK(program_named(*after, "on_test_marker").run_count == 7);

    links.clear();
    object->close();
  }

  // Nothing of ours is left in the kernel.
  for (uint32_t id : link_ids) CHECK(gone(bpf_link_get_fd_by_id, id));
  for (uint32_t id : program_ids) CHECK(gone(bpf_prog_get_fd_by_id, id));
  for (uint32_t id : map_ids) CHECK(gone(bpf_map_get_fd_by_id, id));
}

TEST_CASE("describing something that is not there is a clear error", "[system][introspection]") {
  auto bad_fd = describe_program(-1);
  REQUIRE_FALSE(bad_fd);
  CHECK(bad_fd.error().rfind("cannot read the BPF program behind fd -1: ", 0) == 0);
  auto not_a_map = describe_map(0);  // stdin is no BPF map
  REQUIRE_FALSE(not_a_map);
  CHECK(not_a_map.error().rfind("cannot read the BPF map behind fd 0: ", 0) == 0);
  if (!test::have_root()) return;
  OwnedObjects owned;
  owned.program_ids = {0x7ffffff0};
  auto missing = describe(owned);
  REQUIRE_FALSE(missing);
  CHECK(missing.error() == "BPF program id 2147483632 no longer exists");
}

TEST_CASE("load times since boot convert to wall-clock time", "[system][introspection]") {
  struct timespec boot {};
  ::clock_gettime(CLOCK_BOOTTIME, &boot);
  const uint64_t boot_ns = static_cast<uint64_t>(boot.tv_sec) * 1'000'000'000ULL + static_cast<uint64_t>(boot.tv_nsec);
  const auto now = std::chrono::system_clock::now();
  auto ten_seconds_ago = boot_ns_to_wall_clock(boot_ns - 10'000'000'000ULL);
  auto delta = std::chrono::duration_cast<std::chrono::milliseconds>(now - ten_seconds_ago).count();
  CHECK(delta >= 9'900);
  CHECK(delta <= 10'100);
}

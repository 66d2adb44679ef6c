// kprobe, kretprobe, kprobe.multi, fentry and fexit on the real kernel, with
// the count of this process's open() calls as ground truth. The reference host
// (Linux 6.18 without kprobes, refusing fentry) checks the clear failures; the
// Debian kernels of tests/vm have both, and tests/vm/guest-suite.sh sets
// EBPFRUN_EXPECT_KPROBES / EBPFRUN_EXPECT_FENTRY there so that a failure
// cannot pass for a kernel's limitation.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <set>

#include "attach/alternatives.h"
#include "attach/attach_support.h"
#include "attach/kernel_names.h"
#include "attach/object_links.h"
#include "compiler/compiler.h"
#include "support/test_support.h"

using namespace ebpfrun;
using namespace ebpfrun::test::attach;

namespace {

enum Slot : uint32_t { kKprobe, kKretprobe, kKprobeMulti, kFentry, kFexit, kAny };

bool expected(const char* variable) {
  const char* value = std::getenv(variable);
  return value && std::string(value) == "1";
}

// Loads kernel_probes.bpf.c with the fentry / fexit programs optional: a
// kernel that refuses them still loads the kprobe ones.
loader::Object load_probes() {
  compiler::CompileOptions options;
  auto out = compiler::compile_file(test::source_dir() + "/tests/data/attach/kernel_probes.bpf.c", options);
  INFO(out.error_message());
  REQUIRE(out.ok());
  set_target_pid(out.object, static_cast<uint32_t>(::getpid()));
  auto object = loader::Object::open(out.object, "att_kernel_probes");
  REQUIRE(object);
  loader::LoadOptions load;
  load.optional = {"att_fe_open", "att_fx_open"};
  auto loaded = object->load(load);
  INFO((loaded ? std::string() : loaded.error()));
  REQUIRE(loaded);
  return std::move(object).value();
}

// Opens (and closes) a file of our own n times.
void open_n_times(int n) {
  const std::string path = "/tmp/ebpfrun-probes-" + std::to_string(::getpid()) + "-" +
                           std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
  for (int i = 0; i < n; ++i) {
    int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    REQUIRE(fd >= 0);
    ::close(fd);
  }
  ::unlink(path.c_str());
}

uint64_t slot_count(const loader::Object& object, Slot slot) {
  uint32_t key = slot;
  uint64_t value = 0;
  REQUIRE(bpf_map_lookup_elem(bpf_map__fd(map(object, "att_probe_counts")), &key, &value) == 0);
  return value;
}

struct Case {
  const char* program;
  const char* spec;
  Slot slot;
  bool fentry;
};

}  // namespace

TEST_CASE("attach: kprobe, kretprobe, kprobe.multi, fentry and fexit count this process's opens, or fail clearly",
          "[attach][kernel]") {
  if (!test::have_root()) return;
  const bool kprobes = attach::kprobes_available();
  if (expected("EBPFRUN_EXPECT_KPROBES")) REQUIRE(kprobes);
  KernelIds ids;
  {
    auto object = load_probes();
    ids = kernel_ids(object);
    const bool fentry_loaded = bpf_program__fd(program(object, "att_fe_open")) >= 0;
    if (expected("EBPFRUN_EXPECT_FENTRY")) {
      INFO((object.notes().empty() ? std::string() : object.notes().front()));
      REQUIRE(fentry_loaded);
    }
    for (const Case& c : {Case{"att_kp_open", "kprobe/do_sys_openat2", kKprobe, false},
                          Case{"att_krp_open", "kretprobe/do_sys_openat2", kKretprobe, false},
                          Case{"att_km_open", "kprobe.multi/do_sys_openat2", kKprobeMulti, false},
                          Case{"att_fe_open", "fentry/do_sys_openat2", kFentry, true},
                          Case{"att_fx_open", "fexit/do_sys_openat2", kFexit, true}}) {
      INFO(c.spec);
      auto link = attach::attach_in(object, c.program, c.spec);
      bool must_work = c.fentry ? expected("EBPFRUN_EXPECT_FENTRY") : kprobes;
      // Multi-kprobe links need CONFIG_FPROBE besides kprobes; a kernel
      // without it says so, and that is all that can be checked there.
      if (!link && c.slot == kKprobeMulti &&
          link.error().find("this kernel has no multi-kprobe links") != std::string::npos)
        must_work = false;
      if (!link) {
        INFO(link.error());
        CHECK_FALSE(must_work);
        if (!c.fentry && !kprobes) {
          CHECK(link.error().find("kprobes are not available on this kernel") != std::string::npos);
        } else if (fentry_loaded) {
          CHECK(link.error().find("cannot attach " + std::string(c.spec)) != std::string::npos);
        } else {
          CHECK(link.error().find("is not loaded") != std::string::npos);
        }
        continue;
      }
      CHECK((*link)->spec() == c.spec);
      open_n_times(9);
      (*link)->detach();
      CHECK(slot_count(object, c.slot) == 9);
      open_n_times(2);  // detached: no longer counted
      CHECK(slot_count(object, c.slot) == 9);
    }
  }
  CHECK(leftovers(ids).empty());
}

TEST_CASE("attach: libbpf-tools style kprobe and fentry programs attach with attach_all where the kernel has them",
          "[attach][kernel]") {
  if (!test::have_root()) return;
  KernelIds ids;
  {
    auto object = load_probes();
    ids = kernel_ids(object);
    const bool fentry_loaded = bpf_program__fd(program(object, "att_fe_open")) >= 0;
    // Programs that cannot attach here are optional; with both kinds of
    // probe available every program attaches.
    std::set<std::string> optional;
    if (!attach::kprobes_available()) optional.insert({"att_kp_open", "att_krp_open", "att_km_open"});
    if (!expected("EBPFRUN_EXPECT_FENTRY")) optional.insert({"att_fe_open", "att_fx_open"});
    // Multi-kprobe links need CONFIG_FPROBE besides kprobes (Debian's 6.1 has
    // kprobes without it): a kernel that refuses one with that message is
    // one without them, and that program is then optional too.
    bool multi = attach::kprobes_available();
    if (multi) {
      auto probe = attach::attach_in(object, "att_km_open", "kprobe.multi/do_sys_openat2");
      if (probe) {
        (*probe)->detach();
      } else if (probe.error().find("this kernel has no multi-kprobe links") != std::string::npos) {
        multi = false;
        optional.insert("att_km_open");
      }
    }
    auto links = attach::attach_all(object, {.optional = optional});
    INFO((links ? std::string() : links.error()));
    REQUIRE(links);
    size_t want = (attach::kprobes_available() ? 2 : 0) + (multi ? 1 : 0) +
                  (fentry_loaded && expected("EBPFRUN_EXPECT_FENTRY") ? 2 : 0);
    CHECK(links->size() == want);
    // Attaching opens files of this process (libbpf reads sysfs and tracefs),
    // counted by the probes attached before: count from here on.
    auto slot_of = [](const attach::Link* link) {
      return link->spec() == "kprobe/do_sys_openat2"         ? kKprobe
             : link->spec() == "kretprobe/do_sys_openat2"    ? kKretprobe
             : link->spec() == "kprobe.multi/do_sys_openat2" ? kKprobeMulti
             : link->spec() == "fentry/do_sys_openat2"       ? kFentry
                                                             : kFexit;
    };
    std::vector<uint64_t> before;
    for (attach::Link* link : *links) before.push_back(slot_count(object, slot_of(link)));
    open_n_times(5);
    for (size_t i = 0; i < links->size(); ++i) {
      INFO((*links)[i]->spec());
      CHECK(slot_count(object, slot_of((*links)[i])) - before[i] == 5);
    }
    // Without the optional set the same object fails on this host with the
    // clear kprobe message.
    if (!attach::kprobes_available()) {
      auto strict = attach::attach_all(object);
      REQUIRE_FALSE(strict);
      CHECK(strict.error().find("kprobes are not available on this kernel") != std::string::npos);
    }
  }
  CHECK(leftovers(ids).empty());
}

TEST_CASE("attach: alternatives re-load a kprobe program as fentry, kprobe or tracepoint, whichever works first",
          "[attach][kernel]") {
  if (!test::have_root()) return;
  KernelIds ids;
  {
    auto object = load_probes();
    ids = kernel_ids(object);
    auto link = attach::attach_first(
        object, "att_any_open",
        {"fentry/do_sys_openat2", "kprobe/do_sys_openat2", "tracepoint/syscalls/sys_enter_openat"});
    INFO((link ? std::string() : link.error()));
    REQUIRE(link);
    std::string want = expected("EBPFRUN_EXPECT_FENTRY") ? "fentry/do_sys_openat2"
                       : attach::kprobes_available()     ? "kprobe/do_sys_openat2"
                                                         : "tracepoint/syscalls/sys_enter_openat";
    CHECK((*link)->spec() == want);
    // The copy shares the object's maps: its counts land in att_probe_counts.
    open_n_times(6);
    CHECK(slot_count(object, kAny) == 6);
    REQUIRE_FALSE(object.notes().empty());
    CHECK(object.notes().back().find("program 'att_any_open' attached as " + want) == 0);
    CHECK(object.attachment_program_fds().size() == (want == "kprobe/do_sys_openat2" ? 0u : 1u));
  }
  CHECK(leftovers(ids).empty());
}

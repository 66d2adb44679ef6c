// Ring buffer and perf buffer readers against the real kernel: a probe on
// sys_enter_getpgid emits one event per getpgid(2) this process makes, carrying
// the call's argument as a sequence number, so every count below is exact.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "common/files.h"
#include "compiler/compiler.h"
#include "events/event_loop.h"
#include "loader/object.h"
#include "support/test_support.h"

using namespace ebpfrun;
using namespace std::chrono_literals;
using events::EventLoop;
using events::LoopOptions;
using events::PerfBufReader;
using events::RingBufReader;

namespace {

constexpr const char* kSource = R"(#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "ebpfrun_events.h"

struct evt_record { __u64 seq; __u32 pid; __u32 cpu; };

#ifdef USE_RING
EBPFRUN_RINGBUF_WITH_DROPS(evt_ring, RING_BYTES);
#else
EBPFRUN_PERF_EVENT_ARRAY(evt_perf);
#endif

SEC("tracepoint/syscalls/sys_enter_getpgid")
int evt_probe(struct trace_event_raw_sys_enter *ctx)
{
    __u32 pid = bpf_get_current_pid_tgid() >> 32;
    __u64 arg = ctx->args[0];
    if (pid != TARGET_PID || (arg >> 32) != 0xe7e7)
        return 0;
#ifdef USE_RING
    struct evt_record *e = EBPFRUN_RESERVE(evt_ring, sizeof(*e));
    if (!e)
        return 0;
    e->seq = arg & 0xffffffff;
    e->pid = pid;
    e->cpu = bpf_get_smp_processor_id();
    bpf_ringbuf_submit(e, 0);
#else
    struct evt_record e = { .seq = arg & 0xffffffff, .pid = pid, .cpu = bpf_get_smp_processor_id() };
    bpf_perf_event_output(ctx, &evt_perf, BPF_F_CURRENT_CPU, &e, sizeof(e));
#endif
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
)";

struct Record {
  uint64_t seq;
  uint32_t pid;
  uint32_t cpu;
};

// Makes the probe fire once per sequence number.
void trigger(uint64_t first, uint64_t count) {
  for (uint64_t i = first; i < first + count; ++i) ::syscall(SYS_getpgid, (0xe7e7ULL << 32) | i);
}

// Pins the calling thread to one CPU (so that perf records land in one buffer,
// in order) and restores its affinity afterwards.
class PinnedThread {
 public:
  PinnedThread() {
    REQUIRE(sched_getaffinity(0, sizeof previous_, &previous_) == 0);
    for (cpu_ = 0; cpu_ < CPU_SETSIZE && !CPU_ISSET(cpu_, &previous_); ++cpu_) {
    }
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu_, &one);
    REQUIRE(sched_setaffinity(0, sizeof one, &one) == 0);
  }
  ~PinnedThread() { sched_setaffinity(0, sizeof previous_, &previous_); }
  int cpu() const { return cpu_; }

 private:
  cpu_set_t previous_{};
  int cpu_ = 0;
};

// Ids of every program and map the tests created, checked gone at the end.
std::vector<uint32_t> g_prog_ids, g_map_ids;

struct Probe {
  explicit Probe(loader::Object o) : object(std::move(o)) {}
  ~Probe() { bpf_link__destroy(link); }
  Probe(const Probe&) = delete;
  Probe& operator=(const Probe&) = delete;
  loader::Object object;
  bpf_link* link = nullptr;
};

std::string cache_dir() {
  static test::TempDir dir;  // one compile cache for the whole run
  return dir.file("cache");
}

void ensure_tracefs() {
  if (files::exists("/sys/kernel/tracing/events")) return;
  REQUIRE(::mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, nullptr) == 0);
}

std::unique_ptr<Probe> load_probe(bool ring, size_t ring_bytes = size_t{1} << 20) {
  ensure_tracefs();
  test::TempDir dir;
  compiler::CompileOptions options;
  options.cache_dir = cache_dir();
  options.defines = {"TARGET_PID=" + std::to_string(::getpid()), ring ? "USE_RING" : "USE_PERF",
                     "RING_BYTES=" + std::to_string(ring_bytes)};
  auto out = compiler::compile(kSource, dir.file("events.bpf.c"), options);
  INFO(out.error_message());
  REQUIRE(out.ok());
  auto object = loader::Object::open(out.object, "events_test");
  REQUIRE(object);
  auto probe = std::make_unique<Probe>(std::move(*object));
  auto loaded = probe->object.load();
  INFO((loaded ? std::string() : loaded.error()));
  REQUIRE(loaded);
  for (const auto& p : probe->object.programs()) g_prog_ids.push_back(p.id);
  for (const auto& m : probe->object.maps()) g_map_ids.push_back(m.id);
  bpf_program* program = bpf_object__find_program_by_name(probe->object.raw(), "evt_probe");
  REQUIRE(program != nullptr);
  probe->link = bpf_program__attach(program);
  INFO("attach: " << std::strerror(errno));
  REQUIRE(probe->link != nullptr);
  return probe;
}

// Names of our programs and maps still in the kernel, found by walking its ids.
std::vector<std::string> leftovers() {
  std::vector<std::string> found;
  auto ours = [](const std::vector<uint32_t>& ids, uint32_t id) {
    return std::find(ids.begin(), ids.end(), id) != ids.end();
  };
  for (uint32_t id = 0; bpf_prog_get_next_id(id, &id) == 0;) {
    int fd = bpf_prog_get_fd_by_id(id);
    if (fd < 0) continue;
    bpf_prog_info info{};
    uint32_t len = sizeof info;
    if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0 && ours(g_prog_ids, id))
      found.push_back(std::string("program ") + info.name);
    ::close(fd);
  }
  for (uint32_t id = 0; bpf_map_get_next_id(id, &id) == 0;) {
    int fd = bpf_map_get_fd_by_id(id);
    if (fd < 0) continue;
    bpf_map_info info{};
    uint32_t len = sizeof info;
    if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0 && ours(g_map_ids, id))
      found.push_back(std::string("map ") + info.name);
    ::close(fd);
  }
  return found;
}

void check_nothing_left() {
  // The kernel frees some objects from a work queue; give it a moment.
  std::vector<std::string> left;
  for (int i = 0; i < 100 && !(left = leftovers()).empty(); ++i) std::this_thread::sleep_for(20ms);
  CHECK(left == std::vector<std::string>{});
  g_prog_ids.clear();
  g_map_ids.clear();
}

struct Collected {
  std::vector<Record> records;
  std::vector<size_t> sizes;
  std::vector<int> cpus;
  std::vector<size_t> batch_sizes;
};

// Takes batches until `want` records arrived, or until the loop stays quiet
// for `quiet` (want == 0: drain whatever is there).
Collected collect(EventLoop& loop, events::ReaderId id, size_t want, std::chrono::milliseconds quiet = 300ms) {
  Collected out;
  for (;;) {
    auto wake = loop.poll(want ? 5000ms : quiet);
    REQUIRE(wake);
    if (wake->timed_out()) break;
    while (auto batch = loop.take_batch()) {
      out.batch_sizes.push_back(batch->size());
      for (events::Event e : *batch) {
        REQUIRE(e.reader == id);
        REQUIRE(e.data.size() >= sizeof(Record));
        Record r;
        std::memcpy(&r, e.data.data(), sizeof r);
        out.records.push_back(r);
        out.sizes.push_back(e.data.size());
        out.cpus.push_back(e.cpu);
      }
      loop.recycle(std::move(*batch));
    }
    if (want && out.records.size() >= want) break;
  }
  return out;
}

void check_sequence(const std::vector<Record>& records, uint64_t first, size_t count) {
  REQUIRE(records.size() == count);
  for (size_t i = 0; i < count; ++i) {
    INFO("record " << i);
    REQUIRE(records[i].seq == first + i);
    REQUIRE(records[i].pid == static_cast<uint32_t>(::getpid()));
  }
}

}  // namespace

TEST_CASE("a ring buffer delivers every event once, in order, with its payload", "[events][kernel]") {
  if (!test::have_root()) return;
  {
    auto probe = load_probe(true);
    auto reader = RingBufReader::open(probe->object, "evt_ring");
    REQUIRE(reader);
    CHECK(reader->counts_drops());
    auto loop = EventLoop::create();
    REQUIRE(loop);
    auto id = loop->add(std::move(*reader));
    REQUIRE(id);

    constexpr size_t n = 2000;
    std::thread producer([] {
      PinnedThread pin;
      trigger(0, n);
    });
    auto got = collect(*loop, *id, n);
    producer.join();
    check_sequence(got.records, 0, n);
    for (size_t size : got.sizes) CHECK(size == sizeof(Record));
    for (int cpu : got.cpus) CHECK(cpu == -1);
    CHECK(collect(*loop, *id, 0).records.empty());  // nothing more than n

    auto stats = loop->stats(*id);
    REQUIRE(stats);
    CHECK(stats->received == n);
    CHECK(stats->bytes == n * sizeof(Record));
    CHECK(stats->dropped == 0);
    CHECK(stats->lost == 0);
  }
  check_nothing_left();
}

TEST_CASE("a perf buffer delivers every event once, in order, with its payload", "[events][kernel]") {
  if (!test::have_root()) return;
  {
    auto probe = load_probe(false);
    auto reader = PerfBufReader::open(probe->object, "evt_perf", 64);
    REQUIRE(reader);
    CHECK(reader->buffer_count() == static_cast<size_t>(::sysconf(_SC_NPROCESSORS_ONLN)));
    auto loop = EventLoop::create();
    REQUIRE(loop);
    auto id = loop->add(std::move(*reader));
    REQUIRE(id);

    constexpr size_t n = 2000;
    int producer_cpu = -1;
    std::thread producer([&] {
      PinnedThread pin;
      producer_cpu = pin.cpu();
      trigger(0, n);
    });
    auto got = collect(*loop, *id, n);
    producer.join();
    check_sequence(got.records, 0, n);
    for (size_t i = 0; i < n; ++i) {
      INFO("record " << i);
      // The kernel pads a 16-byte sample to 20 bytes (size field + data end on 8 bytes).
      REQUIRE(got.sizes[i] == 20);
      REQUIRE(got.cpus[i] == producer_cpu);
      REQUIRE(got.records[i].cpu == static_cast<uint32_t>(producer_cpu));
    }
    CHECK(collect(*loop, *id, 0).records.empty());

    auto stats = loop->stats(*id);
    REQUIRE(stats);
    CHECK(stats->received == n);
    CHECK(stats->bytes == n * 20);
    CHECK(stats->lost == 0);
    CHECK(stats->dropped == 0);
  }
  check_nothing_left();
}

TEST_CASE("a stalled ring buffer counts every event it could not keep as dropped", "[events][kernel]") {
  if (!test::have_root()) return;
  {
    auto probe = load_probe(true, 4096);
    auto reader = RingBufReader::open(probe->object, "evt_ring");
    REQUIRE(reader);
    auto loop = EventLoop::create();
    REQUIRE(loop);
    auto id = loop->add(std::move(*reader));
    REQUIRE(id);

    constexpr size_t n = 10000;
    trigger(0, n);  // nobody reads meanwhile
    auto got = collect(*loop, *id, 0);
    auto stats = loop->stats(*id);
    REQUIRE(stats);
    CHECK(stats->received == got.records.size());
    CHECK(stats->received + stats->dropped == n);
    CHECK(stats->dropped > 0);
    // A record takes 16 bytes plus an 8-byte header; the ring keeps the first ones.
    CHECK(stats->received == 4096 / 24);
    check_sequence(got.records, 0, stats->received);
  }
  check_nothing_left();
}

TEST_CASE("a stalled perf buffer reports what it could not keep as lost", "[events][kernel]") {
  if (!test::have_root()) return;
  {
    auto probe = load_probe(false);
    auto reader = PerfBufReader::open(probe->object, "evt_perf", 1);
    REQUIRE(reader);
    auto loop = EventLoop::create();
    REQUIRE(loop);
    auto id = loop->add(std::move(*reader));
    REQUIRE(id);

    constexpr size_t n = 10000;
    PinnedThread pin;
    trigger(0, n);  // nobody reads meanwhile
    auto kept = collect(*loop, *id, 0);
    REQUIRE_FALSE(kept.records.empty());
    check_sequence(kept.records, 0, kept.records.size());
    // The kernel reports a loss only once it has room again, ahead of the next
    // sample: one more event flushes the count.
    trigger(n, 1);
    auto flush = collect(*loop, *id, 1);
    REQUIRE(flush.records.size() == 1);
    CHECK(flush.records[0].seq == n);

    auto stats = loop->stats(*id);
    REQUIRE(stats);
    CHECK(stats->received == kept.records.size() + 1);
    CHECK(kept.records.size() + stats->lost == n);
    CHECK(stats->lost > 0);
  }
  check_nothing_left();
}

TEST_CASE("batches respect the event and byte limits", "[events][kernel]") {
  if (!test::have_root()) return;
  constexpr size_t n = 1000;
  for (bool ring : {true, false}) {
    for (bool by_bytes : {false, true}) {
      INFO((ring ? "ring buffer" : "perf buffer") << (by_bytes ? ", byte limit" : ", event limit"));
      auto probe = load_probe(ring);
      LoopOptions options;
      const size_t record_size = ring ? sizeof(Record) : 20;
      const size_t per_batch = by_bytes ? 10 : 64;
      options.batch.max_events = by_bytes ? 100000 : per_batch;
      options.batch.max_bytes = by_bytes ? per_batch * record_size : 1 << 20;
      auto loop = EventLoop::create(options);
      REQUIRE(loop);
      Result<events::ReaderId> id = make_error("unset");
      if (ring) {
        auto reader = RingBufReader::open(probe->object, "evt_ring");
        REQUIRE(reader);
        id = loop->add(std::move(*reader));
      } else {
        auto reader = PerfBufReader::open(probe->object, "evt_perf", 16);
        REQUIRE(reader);
        id = loop->add(std::move(*reader));
      }
      REQUIRE(id);
      PinnedThread pin;
      trigger(0, n);  // all 1000 are pending before the first poll
      auto first = loop->poll(1000ms);
      REQUIRE(first);
      REQUIRE(first->events);
      // A ring buffer is read no further than the first batch: the rest waits
      // in the kernel until the consumer asks. libbpf drains a perf buffer whole.
      CHECK(loop->stats(*id)->received == (ring ? per_batch : n));
      // take_batch() hands out only what poll() read, so its loop always ends.
      std::vector<size_t> first_batches;
      std::vector<Record> records;
      while (auto batch = loop->take_batch()) {
        first_batches.push_back(batch->size());
        for (events::Event e : *batch) std::memcpy(&records.emplace_back(), e.data.data(), sizeof(Record));
      }
      CHECK(first_batches.size() == (ring ? 1 : (n + per_batch - 1) / per_batch));
      auto got = collect(*loop, *id, 0);
      got.batch_sizes.insert(got.batch_sizes.begin(), first_batches.begin(), first_batches.end());
      got.records.insert(got.records.begin(), records.begin(), records.end());
      check_sequence(got.records, 0, n);
      REQUIRE(got.batch_sizes.size() == (n + per_batch - 1) / per_batch);
      for (size_t i = 0; i + 1 < got.batch_sizes.size(); ++i) CHECK(got.batch_sizes[i] == per_batch);
      CHECK(got.batch_sizes.back() == n - per_batch * (got.batch_sizes.size() - 1));
    }
  }
  check_nothing_left();
}

TEST_CASE("one loop reads several buffers and tags each event with its reader", "[events][kernel]") {
  if (!test::have_root()) return;
  {
    auto ring_probe = load_probe(true);
    auto perf_probe = load_probe(false);
    auto loop = EventLoop::create();
    REQUIRE(loop);
    auto ring_reader = RingBufReader::open(ring_probe->object, "evt_ring");
    auto perf_reader = PerfBufReader::open(perf_probe->object, "evt_perf", 64);
    REQUIRE((ring_reader && perf_reader));
    auto ring_id = loop->add(std::move(*ring_reader));
    auto perf_id = loop->add(std::move(*perf_reader));
    REQUIRE((ring_id && perf_id));
    CHECK(*ring_id != *perf_id);
    CHECK(loop->reader(*ring_id)->name() == "evt_ring");
    CHECK(loop->reader(*perf_id)->name() == "evt_perf");

    constexpr size_t n = 500;
    PinnedThread pin;
    trigger(0, n);  // both probes fire on every call
    std::vector<uint64_t> from_ring, from_perf;
    while (from_ring.size() + from_perf.size() < 2 * n) {
      auto wake = loop->poll(5000ms);
      REQUIRE(wake);
      REQUIRE(wake->events);
      while (auto batch = loop->take_batch()) {
        for (events::Event e : *batch) {
          Record r;
          std::memcpy(&r, e.data.data(), sizeof r);
          REQUIRE((e.reader == *ring_id || e.reader == *perf_id));
          (e.reader == *ring_id ? from_ring : from_perf).push_back(r.seq);
        }
      }
    }
    for (const auto* seqs : {&from_ring, &from_perf}) {
      REQUIRE(seqs->size() == n);
      for (size_t i = 0; i < n; ++i) REQUIRE((*seqs)[i] == i);
    }

    // After remove(), only the other reader delivers, and the removed one is gone.
    REQUIRE(loop->remove(*ring_id));
    CHECK_FALSE(loop->stats(*ring_id));
    CHECK(loop->reader(*ring_id) == nullptr);
    CHECK_FALSE(loop->remove(*ring_id));
    trigger(n, 10);
    auto rest = collect(*loop, *perf_id, 10);
    check_sequence(rest.records, n, 10);
    CHECK(collect(*loop, *perf_id, 0).records.empty());
    CHECK(loop->stats(*perf_id)->received == n + 10);
  }
  check_nothing_left();
}

TEST_CASE("readers refuse maps they cannot read, with a clear message", "[events][kernel]") {
  if (!test::have_root()) return;
  {
    auto probe = load_probe(false);
    auto wrong_kind = RingBufReader::open(probe->object, "evt_perf");
    REQUIRE_FALSE(wrong_kind);
    CHECK(wrong_kind.error() == "map evt_perf of BPF object events_test is a perf_event_array map, not a ringbuf map.");
    auto missing = PerfBufReader::open(probe->object, "nope");
    REQUIRE_FALSE(missing);
    CHECK(missing.error() == "BPF object events_test has no map named nope; its perf_event_array maps are: evt_perf.");
    auto pages = PerfBufReader::open(probe->object, "evt_perf", 3);
    REQUIRE_FALSE(pages);
    CHECK(pages.error().find("not a power of two") != std::string::npos);

    // A ring buffer without a NAME_drops map is read, with drops unknown (0).
    auto ring_probe = load_probe(true);
    bpf_map* ring = bpf_object__find_map_by_name(ring_probe->object.raw(), "evt_ring");
    REQUIRE(ring != nullptr);
    auto bare = RingBufReader::from_fds("bare", bpf_map__fd(ring));
    REQUIRE(bare);
    CHECK_FALSE(bare->counts_drops());
    // A NAME_drops map of the wrong shape is refused rather than misread.
    auto bad_drops = RingBufReader::from_fds("evt_ring", bpf_map__fd(ring), bpf_map__fd(ring));
    REQUIRE_FALSE(bad_drops);
    CHECK(bad_drops.error().find("is not a drop counter") != std::string::npos);

    auto loop = EventLoop::create();
    REQUIRE(loop);
    RingBufReader moved = std::move(*bare);
    auto added_empty = loop->add(std::move(*bare));
    CHECK_FALSE(added_empty);
    CHECK(loop->add(std::move(moved)));
  }
  check_nothing_left();
}

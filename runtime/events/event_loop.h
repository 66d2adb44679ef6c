// runtime/events — the event loop: ring buffers, perf buffers, timers and
// signals on one epoll fd, delivered to the consumer in batches.
//
// The consumer pulls; nothing calls it back. One round looks like this:
//
//   auto loop = events::EventLoop::create();           // blocks SIGINT/SIGTERM
//   auto id = loop->add(std::move(*RingBufReader::open(object, "events")));
//   loop->set_tick(1000ms);                              // "every 1 s"
//   loop->set_deadline(10s);                             // "run for 10 s"
//   for (;;) {
//     auto wake = loop->poll(-1ms);                      // wait for anything
//     if (!wake) fail(wake.error());
//     while (auto batch = loop->take_batch()) {
//       for (events::Event e : *batch) handle(e.reader, e.data);
//       loop->recycle(std::move(*batch));                // optional: reuse buffers
//     }
//     if (wake->ticks) print_summary();
//     if (wake->deadline || wake->signal || wake->stopped) break;
//   }
//
// Why pull: libbpf's callbacks only copy records into batches, so the consumer
// (Lua) never runs inside libbpf, and an error it raises cannot unwind through
// C. Records stay in the kernel buffer until the consumer asks for the next
// batch, so a slow consumer shows up as counted drops/losses (see stats()),
// never as unbounded memory in this process.
//
// Not thread-safe, except stop(), which any thread or signal handler may call.
#pragma once

#include <chrono>
#include <csignal>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "common/result.h"
#include "events/batch.h"
#include "events/perf_reader.h"
#include "events/ringbuf_reader.h"
#include "events/source.h"

namespace ebpfrun::events {

struct LoopOptions {
  BatchLimits batch;
  // Signals reported by poll() instead of taking their default action; they
  // are blocked in the creating thread while the loop lives (see signal_fd.h).
  // Empty: the loop leaves signals alone.
  std::vector<int> signals = {SIGINT, SIGTERM};
};

// What happened during one poll(); several things can happen at once.
struct Wake {
  bool events = false;    // take_batch() has at least one batch
  uint64_t ticks = 0;     // periodic ticks since the last poll (more than 1 if the consumer was slow)
  bool deadline = false;  // the one-shot deadline passed
  int signal = 0;         // a signal from LoopOptions::signals (one per poll), or 0
  bool stopped = false;   // stop() was called since the last poll
  bool timed_out() const { return !events && ticks == 0 && !deadline && signal == 0 && !stopped; }
};

class EventLoop {
 public:
  static Result<EventLoop> create(LoopOptions options = {});

  EventLoop(EventLoop&& other) noexcept;
  EventLoop& operator=(EventLoop&& other) noexcept;
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;
  ~EventLoop();

  // Takes ownership of a reader. Its events carry the returned id.
  Result<ReaderId> add(RingBufReader reader);
  Result<ReaderId> add(PerfBufReader reader);
  Result<ReaderId> add(std::unique_ptr<EventSource> reader);
  // Stops reading and destroys the reader. Batches already taken or queued
  // keep its events.
  Status remove(ReaderId id);
  // The reader's counters at any time; nothing when no reader has that id.
  std::optional<ReaderStats> stats(ReaderId id) const;
  const EventSource* reader(ReaderId id) const;

  // Ticks every `every`, starting `every` from now; zero stops ticking.
  Status set_tick(std::chrono::milliseconds every);
  // One deadline, `after` from now; zero cancels it. Setting it again moves it.
  Status set_deadline(std::chrono::milliseconds after);

  // Waits up to `timeout` (negative: forever) until something happens, and
  // reports what did. Reads the kernel buffers that have records until one
  // batch is full (a ring buffer is read no further; libbpf drains a perf
  // buffer whole, which can fill several). Returns at once when records are
  // already waiting, but even then collects ticks, signals and stop requests,
  // so that a flood of events never hides a Ctrl-C.
  Result<Wake> poll(std::chrono::milliseconds timeout);
  // The next batch that poll() read; nothing when none is left. Never blocks
  // and never reads the kernel buffers, so `while (take_batch())` always ends
  // and the consumer gets back to poll().
  std::optional<Batch> take_batch();
  // Hands a consumed batch back so that its buffers are reused.
  void recycle(Batch&& batch);

  // Makes the current or next poll() return with `stopped`. Async-signal-safe
  // and thread-safe (it writes to an eventfd).
  void stop();

 private:
  struct Impl;
  explicit EventLoop(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ebpfrun::events

#include "events/event_loop.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <utility>

#include <fmt/format.h>

#include "common/log.h"
#include "events/internal/signal_fd.h"
#include "events/internal/timer_fd.h"
#include "events/unique_fd.h"

namespace ebpfrun::events {
namespace {

// epoll_event.data.u64 carries what became ready: a kind in the high half and,
// for readers, the reader id in the low half.
enum class Kind : uint64_t { reader = 1, tick = 2, deadline = 3, signal = 4, stop = 5 };

uint64_t tag(Kind kind, uint32_t id = 0) { return (static_cast<uint64_t>(kind) << 32) | id; }

Status watch(int epoll_fd, int fd, uint64_t data, const char* what) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = data;
  if (::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev) != 0) {
    int err = errno;
    return make_errno_error(
        err, fmt::format("cannot watch the {} in the event loop (epoll_ctl): {}.", what, std::strerror(err)));
  }
  return ok_status();
}

}  // namespace

struct EventLoop::Impl {
  struct Source {
    ReaderId id;
    std::unique_ptr<EventSource> reader;
    bool pending = false;  // records may be waiting in its kernel buffer
  };

  explicit Impl(BatchLimits limits) : queue(limits) {}

  UniqueFd epoll;
  UniqueFd stop_event;
  std::optional<TimerFd> tick;
  std::optional<TimerFd> deadline;
  std::optional<SignalFd> signals;
  BatchQueue queue;
  std::vector<Source> sources;
  ReaderId next_id = 1;
  size_t next_source = 0;  // where fill() starts, rotated so that no reader starves the others

  Source* find(ReaderId id) {
    auto it = std::find_if(sources.begin(), sources.end(), [id](const Source& s) { return s.id == id; });
    return it == sources.end() ? nullptr : &*it;
  }

  // Reads from readers with pending records until the oldest batch is full or
  // every reader is drained.
  void fill() {
    const size_t n = sources.size();
    for (size_t k = 0; k < n && !queue.front_full(); ++k) {
      Source& s = sources[(next_source + k) % n];
      if (!s.pending) continue;
      auto drained = s.reader->consume(queue, s.id);
      if (!drained) {
        log::warn("{}", drained.error());
        s.pending = false;
        continue;
      }
      s.pending = !*drained;
    }
    if (n > 0) next_source = (next_source + 1) % n;
  }

  bool data_waiting() const {
    return !queue.empty() || std::any_of(sources.begin(), sources.end(), [](const Source& s) { return s.pending; });
  }

  void handle(const epoll_event& ev, Wake& wake) {
    const auto kind = static_cast<Kind>(ev.data.u64 >> 32);
    switch (kind) {
      case Kind::reader:
        if (Source* s = find(static_cast<ReaderId>(ev.data.u64 & 0xffffffffu))) s->pending = true;
        break;
      case Kind::tick:
        wake.ticks += tick->read_expirations();
        break;
      case Kind::deadline:
        if (deadline->read_expirations() > 0) wake.deadline = true;
        break;
      case Kind::signal:
        if (wake.signal == 0) wake.signal = signals->read_one();
        break;
      case Kind::stop: {
        uint64_t count = 0;
        if (::read(stop_event.get(), &count, sizeof count) == static_cast<ssize_t>(sizeof count)) wake.stopped = true;
        break;
      }
    }
  }
};

Result<EventLoop> EventLoop::create(LoopOptions options) {
  auto impl = std::make_unique<Impl>(options.batch);
  impl->epoll.reset(::epoll_create1(EPOLL_CLOEXEC));
  if (!impl->epoll.valid()) {
    int err = errno;
    return make_errno_error(err, fmt::format("cannot create the event loop (epoll_create1): {}.", std::strerror(err)));
  }
  impl->stop_event.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!impl->stop_event.valid()) {
    int err = errno;
    return make_errno_error(
        err, fmt::format("cannot create the event loop's stop event (eventfd): {}.", std::strerror(err)));
  }
  if (auto s = watch(impl->epoll.get(), impl->stop_event.get(), tag(Kind::stop), "stop event"); !s)
    return std::move(s).take_error();
  for (auto [slot, kind] : {std::pair{&impl->tick, Kind::tick}, std::pair{&impl->deadline, Kind::deadline}}) {
    auto timer = TimerFd::create();
    if (!timer) return std::move(timer).take_error();
    slot->emplace(std::move(*timer));
    if (auto s = watch(impl->epoll.get(), (*slot)->fd(), tag(kind), "timer"); !s) return std::move(s).take_error();
  }
  if (!options.signals.empty()) {
    auto signals = SignalFd::block(options.signals);
    if (!signals) return std::move(signals).take_error();
    impl->signals.emplace(std::move(*signals));
    if (auto s = watch(impl->epoll.get(), impl->signals->fd(), tag(Kind::signal), "signalfd"); !s)
      return std::move(s).take_error();
  }
  return EventLoop(std::move(impl));
}

EventLoop::EventLoop(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
EventLoop::EventLoop(EventLoop&& other) noexcept = default;
EventLoop& EventLoop::operator=(EventLoop&& other) noexcept = default;

EventLoop::~EventLoop() {
  if (!impl_) return;
  for (const auto& s : impl_->sources) {
    ReaderStats st = s.reader->stats();
    log::debug("event loop closing {}: {} received, {} lost, {} dropped, {} bytes", s.reader->name(), st.received,
               st.lost, st.dropped, st.bytes);
  }
}

Result<ReaderId> EventLoop::add(RingBufReader reader) {
  return add(std::make_unique<RingBufReader>(std::move(reader)));
}

Result<ReaderId> EventLoop::add(PerfBufReader reader) {
  return add(std::make_unique<PerfBufReader>(std::move(reader)));
}

Result<ReaderId> EventLoop::add(std::unique_ptr<EventSource> reader) {
  if (!impl_)
    return make_error(ErrorKind::invalid_argument,
                      "the event loop was moved from; add readers to the loop that replaced it.");
  if (!reader || reader->epoll_fd() < 0)
    return make_error(ErrorKind::invalid_argument,
                      "this event reader is closed (moved from or failed to open) and cannot be added to a loop.");
  const ReaderId id = impl_->next_id++;
  if (auto s = watch(impl_->epoll.get(), reader->epoll_fd(), tag(Kind::reader, id), reader->name().c_str()); !s)
    return std::move(s).take_error();
  // Records may already be waiting (an edge-style perf wakeup may have passed).
  impl_->sources.push_back(Impl::Source{id, std::move(reader), true});
  return id;
}

Status EventLoop::remove(ReaderId id) {
  Impl::Source* s = impl_ ? impl_->find(id) : nullptr;
  if (!s) return make_error(ErrorKind::not_found, fmt::format("the event loop has no reader with id {}.", id));
  ::epoll_ctl(impl_->epoll.get(), EPOLL_CTL_DEL, s->reader->epoll_fd(), nullptr);
  impl_->sources.erase(impl_->sources.begin() + (s - impl_->sources.data()));
  impl_->next_source = 0;
  return ok_status();
}

std::optional<ReaderStats> EventLoop::stats(ReaderId id) const {
  Impl::Source* s = impl_ ? impl_->find(id) : nullptr;
  if (!s) return std::nullopt;
  return s->reader->stats();
}

const EventSource* EventLoop::reader(ReaderId id) const {
  Impl::Source* s = impl_ ? impl_->find(id) : nullptr;
  return s ? s->reader.get() : nullptr;
}

Status EventLoop::set_tick(std::chrono::milliseconds every) {
  if (!impl_) return make_error(ErrorKind::invalid_argument, "the event loop was moved from.");
  return impl_->tick->arm(every, every);
}

Status EventLoop::set_deadline(std::chrono::milliseconds after) {
  if (!impl_) return make_error(ErrorKind::invalid_argument, "the event loop was moved from.");
  return impl_->deadline->arm(after, {});
}

Result<Wake> EventLoop::poll(std::chrono::milliseconds timeout) {
  if (!impl_) return make_error(ErrorKind::invalid_argument, "the event loop was moved from.");
  using Clock = std::chrono::steady_clock;
  const bool forever = timeout.count() < 0;
  const auto end = Clock::now() + (forever ? std::chrono::milliseconds(0) : timeout);
  Wake wake;
  epoll_event ready[16];
  for (;;) {
    int wait_ms = -1;
    if (impl_->data_waiting()) {
      wait_ms = 0;
    } else if (!forever) {
      auto left = std::chrono::ceil<std::chrono::milliseconds>(end - Clock::now()).count();
      wait_ms = static_cast<int>(std::clamp<int64_t>(left, 0, INT_MAX));
    }
    int n = ::epoll_wait(impl_->epoll.get(), ready, 16, wait_ms);
    if (n < 0 && errno != EINTR) {
      int err = errno;
      return make_errno_error(err, fmt::format("waiting for events failed (epoll_wait): {}.", std::strerror(err)));
    }
    for (int i = 0; i < n; ++i) impl_->handle(ready[i], wake);
    impl_->fill();
    wake.events = !impl_->queue.empty();
    // A reader that polled readable may hold nothing after all (a perf wakeup
    // for records already read); keep waiting out the timeout then.
    if (!wake.timed_out() || (!forever && Clock::now() >= end)) return wake;
  }
}

std::optional<Batch> EventLoop::take_batch() {
  // No reading here: under a flood, `while (take_batch())` must end so that the
  // consumer gets back to poll() and sees ticks and signals.
  if (!impl_) return std::nullopt;
  return impl_->queue.take();
}

void EventLoop::recycle(Batch&& batch) {
  if (impl_) impl_->queue.recycle(std::move(batch));
}

void EventLoop::stop() {
  if (!impl_) return;
  const uint64_t one = 1;
  // Only write(2): this runs in signal handlers too.
  [[maybe_unused]] ssize_t n = ::write(impl_->stop_event.get(), &one, sizeof one);
}

}  // namespace ebpfrun::events

// The event loop's timers, signals and stop requests (no BPF needed).
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <thread>

#include "events/event_loop.h"

using namespace ebpfrun;
using namespace std::chrono_literals;
using events::EventLoop;
using events::LoopOptions;
using Clock = std::chrono::steady_clock;

namespace {

bool blocked(int sig) {
  sigset_t mask;
  pthread_sigmask(SIG_BLOCK, nullptr, &mask);
  return sigismember(&mask, sig) == 1;
}

bool pending(int sig) {
  sigset_t set;
  sigpending(&set);
  return sigismember(&set, sig) == 1;
}

EventLoop* g_loop_for_handler = nullptr;
void stop_from_handler(int) { g_loop_for_handler->stop(); }

}  // namespace

TEST_CASE("periodic ticks arrive at the rate asked for", "[events][loop]") {
  auto loop = EventLoop::create();
  REQUIRE(loop);
  const auto start = Clock::now();
  REQUIRE(loop->set_tick(50ms));
  uint64_t ticks = 0;
  while (Clock::now() - start < 520ms) {
    auto wake = loop->poll(1000ms);
    REQUIRE(wake);
    CHECK_FALSE(wake->events);
    CHECK_FALSE(wake->deadline);
    ticks += wake->ticks;
  }
  // Expirations pile up in the timerfd even if this thread was descheduled, so
  // the count follows the clock, not the scheduler.
  const auto elapsed = Clock::now() - start;
  const auto expected = static_cast<uint64_t>(elapsed / 50ms);
  INFO("elapsed " << std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count() << " ms");
  CHECK(ticks + 1 >= expected);
  CHECK(ticks <= expected + 1);
  CHECK(ticks >= 9);  // the window is at least 520 ms

  // Zero stops ticking.
  REQUIRE(loop->set_tick(0ms));
  auto quiet = loop->poll(150ms);
  REQUIRE(quiet);
  CHECK(quiet->timed_out());
}

TEST_CASE("the deadline fires once, never early", "[events][loop]") {
  auto loop = EventLoop::create();
  REQUIRE(loop);
  const auto start = Clock::now();
  REQUIRE(loop->set_deadline(100ms));
  auto wake = loop->poll(5000ms);
  REQUIRE(wake);
  CHECK(wake->deadline);
  CHECK(Clock::now() - start >= 100ms);
  CHECK(Clock::now() - start < 5000ms);
  auto after = loop->poll(150ms);
  REQUIRE(after);
  CHECK(after->timed_out());

  // Cancelled deadlines do not fire.
  REQUIRE(loop->set_deadline(50ms));
  REQUIRE(loop->set_deadline(0ms));
  auto cancelled = loop->poll(150ms);
  REQUIRE(cancelled);
  CHECK(cancelled->timed_out());
}

TEST_CASE("a timeout with nothing happening waits the whole timeout", "[events][loop]") {
  auto loop = EventLoop::create();
  REQUIRE(loop);
  const auto start = Clock::now();
  auto wake = loop->poll(120ms);
  REQUIRE(wake);
  CHECK(wake->timed_out());
  CHECK(Clock::now() - start >= 120ms);
  CHECK_FALSE(loop->take_batch());
}

TEST_CASE("SIGTERM is reported by the loop, and the signal mask is restored after it", "[events][loop]") {
  REQUIRE_FALSE(blocked(SIGTERM));
  REQUIRE_FALSE(blocked(SIGINT));
  {
    auto loop = EventLoop::create();
    REQUIRE(loop);
    CHECK(blocked(SIGTERM));
    CHECK(blocked(SIGINT));
    REQUIRE(::kill(::getpid(), SIGTERM) == 0);
    auto wake = loop->poll(5000ms);
    REQUIRE(wake);
    CHECK(wake->signal == SIGTERM);
    CHECK_FALSE(wake->stopped);

    // Moving the loop keeps the signals blocked; only the last owner restores.
    EventLoop moved = std::move(*loop);
    CHECK(blocked(SIGTERM));
    REQUIRE(::kill(::getpid(), SIGINT) == 0);
    auto second = moved.poll(5000ms);
    REQUIRE(second);
    CHECK(second->signal == SIGINT);
  }
  CHECK_FALSE(blocked(SIGTERM));
  CHECK_FALSE(blocked(SIGINT));
}

TEST_CASE("a signal the loop never read does not kill the process when the loop goes", "[events][loop]") {
  {
    auto loop = EventLoop::create();
    REQUIRE(loop);
    REQUIRE(::kill(::getpid(), SIGINT) == 0);
    CHECK(pending(SIGINT));
  }
  // Still alive: the loop took the signal before unblocking it.
  CHECK_FALSE(pending(SIGINT));
  CHECK_FALSE(blocked(SIGINT));
}

TEST_CASE("signals the caller had blocked already stay blocked", "[events][loop]") {
  sigset_t usr1, previous;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  REQUIRE(pthread_sigmask(SIG_BLOCK, &usr1, &previous) == 0);
  {
    LoopOptions options;
    options.signals = {SIGUSR1, SIGTERM};
    auto loop = EventLoop::create(options);
    REQUIRE(loop);
    REQUIRE(::kill(::getpid(), SIGUSR1) == 0);
    auto wake = loop->poll(5000ms);
    REQUIRE(wake);
    CHECK(wake->signal == SIGUSR1);
  }
  CHECK(blocked(SIGUSR1));
  CHECK_FALSE(blocked(SIGTERM));
  REQUIRE(pthread_sigmask(SIG_SETMASK, &previous, nullptr) == 0);
}

TEST_CASE("a loop without signals leaves the mask alone", "[events][loop]") {
  LoopOptions options;
  options.signals.clear();
  auto loop = EventLoop::create(options);
  REQUIRE(loop);
  CHECK_FALSE(blocked(SIGINT));
  CHECK_FALSE(blocked(SIGTERM));

  LoopOptions bad;
  bad.signals = {SIGKILL};
  auto refused = EventLoop::create(bad);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().find("cannot be handled") != std::string::npos);
  CHECK_FALSE(blocked(SIGINT));
}

TEST_CASE("stop() wakes a waiting poll, from another thread or a signal handler", "[events][loop]") {
  auto loop = EventLoop::create();
  REQUIRE(loop);

  std::thread stopper([&] {
    std::this_thread::sleep_for(50ms);
    loop->stop();
  });
  const auto start = Clock::now();
  auto wake = loop->poll(-1ms);
  stopper.join();
  REQUIRE(wake);
  CHECK(wake->stopped);
  CHECK(Clock::now() - start < 5000ms);
  auto after = loop->poll(50ms);
  REQUIRE(after);
  CHECK(after->timed_out());

  // From a signal handler (SIGUSR1 is not one the loop blocks).
  g_loop_for_handler = &*loop;
  struct sigaction action {
  }, previous{};
  action.sa_handler = stop_from_handler;
  sigemptyset(&action.sa_mask);
  REQUIRE(sigaction(SIGUSR1, &action, &previous) == 0);
  REQUIRE(::raise(SIGUSR1) == 0);
  auto from_handler = loop->poll(5000ms);
  sigaction(SIGUSR1, &previous, nullptr);
  g_loop_for_handler = nullptr;
  REQUIRE(from_handler);
  CHECK(from_handler->stopped);
}

TEST_CASE("ticks, deadline and stop can arrive in one poll", "[events][loop]") {
  auto loop = EventLoop::create();
  REQUIRE(loop);
  REQUIRE(loop->set_tick(20ms));
  REQUIRE(loop->set_deadline(20ms));
  std::this_thread::sleep_for(110ms);
  loop->stop();
  auto wake = loop->poll(0ms);
  REQUIRE(wake);
  CHECK(wake->deadline);
  CHECK(wake->stopped);
  CHECK(wake->ticks >= 4);
  CHECK_FALSE(wake->events);
}

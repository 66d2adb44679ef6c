// The event loop as the Lua side sees it: readers on ring/perf buffers, and a
// poll that returns what happened plus batches of raw events. The batch is
// handed to Lua as two pointers (payload bytes and an entry index), which the
// Lua side reads with FFI; no C code calls into Lua while events are read.
#include <csignal>

#include <fmt/format.h>

#include "bindings/host_context.h"
#include "bindings/lua_support.h"
#include "events/perf_reader.h"
#include "events/ringbuf_reader.h"

namespace ebpfrun::bindings {
namespace {

struct BatchBox {
  std::optional<events::Batch> batch;
};

// obj:reader(map_name, "ringbuf" | "perfbuf", pages_per_cpu) → reader id | nil, err
int object_reader(lua_State* L) {
  return guarded(L, [](Call& call) -> int {
    auto* box = static_cast<ObjectBox*>(call.udata_arg(1, kObjectType, "object"));
    std::string name, kind;
    if (!box || !call.string_arg(2, name, "map name") || !call.string_arg(3, kind, "reader kind")) return 0;
    if (!box->state || !box->state->object.is_open()) return call.raise("attempt to use a closed BPF object");
    if (kind != "ringbuf" && kind != "perfbuf") return call.raise("reader kind must be 'ringbuf' or 'perfbuf'");
    HostContext& host = host_context(call.L);
    auto loop = host.event_loop();
    if (!loop) return call.fail(loop.error_info());
    Result<events::ReaderId> id = make_error("");
    if (kind == "ringbuf") {
      auto reader = events::RingBufReader::open(box->state->object, name);
      if (!reader) return call.fail(reader.error_info());
      id = (*loop)->add(std::move(reader).value());
    } else {
      size_t pages = lua_isnumber(call.L, 4) ? static_cast<size_t>(lua_tonumber(call.L, 4))
                                             : events::PerfBufReader::kDefaultPagesPerCpu;
      auto reader = events::PerfBufReader::open(box->state->object, name, pages);
      if (!reader) return call.fail(reader.error_info());
      id = (*loop)->add(std::move(reader).value());
    }
    if (!id) return call.fail(id.error_info());
    box->state->readers.insert(*id);
    lua_pushnumber(call.L, *id);
    return 1;
  });
}

int reader_stats(lua_State* L) {
  return guarded(L, [](Call& call) -> int {
    long long id = 0;
    if (!call.integer_arg(1, id, "reader id")) return 0;
    HostContext& host = host_context(call.L);
    auto stats = host.loop ? host.loop->stats(static_cast<events::ReaderId>(id)) : std::nullopt;
    if (!stats) return call.fail(make_error(ErrorKind::not_found, fmt::format("no reader {}", id)));
    lua_createtable(call.L, 0, 4);
    set_number(call.L, "received", static_cast<double>(stats->received));
    set_number(call.L, "lost", static_cast<double>(stats->lost));
    set_number(call.L, "dropped", static_cast<double>(stats->dropped));
    set_number(call.L, "bytes", static_cast<double>(stats->bytes));
    return 1;
  });
}

// poll(timeout_ms) → events, ticks, deadline, signal, stopped | nil, err
int poll(lua_State* L) {
  return guarded(L, [](Call& call) -> int {
    long long timeout = 0;
    if (!call.integer_arg(1, timeout, "timeout in ms")) return 0;
    HostContext& host = host_context(call.L);
    auto loop = host.event_loop();
    if (!loop) return call.fail(loop.error_info());
    if (host.before_first_poll) {
      auto release = std::move(host.before_first_poll);
      host.before_first_poll = nullptr;
      release();
    }
    auto wake = (*loop)->poll(std::chrono::milliseconds(timeout));
    if (!wake) return call.fail(wake.error_info());
    if (wake->signal == SIGCHLD) {
      wake->signal = 0;
      if (host.command_exited && host.command_exited()) wake->stopped = true;
    }
    lua_pushboolean(call.L, wake->events);
    lua_pushnumber(call.L, static_cast<double>(wake->ticks));
    lua_pushboolean(call.L, wake->deadline);
    lua_pushnumber(call.L, wake->signal);
    lua_pushboolean(call.L, wake->stopped);
    return 5;
  });
}

int take_batch(lua_State* L) {
  return guarded(L, [](Call& call) -> int {
    HostContext& host = host_context(call.L);
    if (!host.loop) {
      lua_pushnil(call.L);
      return 1;
    }
    auto batch = host.loop->take_batch();
    if (!batch) {
      lua_pushnil(call.L);
      return 1;
    }
    push_udata<BatchBox>(call.L, kBatchType, BatchBox{std::move(batch)});
    return 1;
  });
}

// batch:view() → count, data pointer, entries pointer (lightuserdata)
int batch_view(lua_State* L) {
  return guarded(L, [](Call& call) -> int {
    auto* box = static_cast<BatchBox*>(call.udata_arg(1, kBatchType, "batch"));
    if (!box) return 0;
    if (!box->batch) return call.raise("attempt to use a released batch");
    lua_pushnumber(call.L, static_cast<double>(box->batch->size()));
    lua_pushlightuserdata(call.L, const_cast<std::byte*>(box->batch->raw_data()));
    lua_pushlightuserdata(call.L, const_cast<events::BatchEntry*>(box->batch->raw_entries()));
    return 3;
  });
}

// batch:release(): gives the buffer back to the loop for reuse; idempotent.
int batch_release(lua_State* L) {
  return guarded(L, [](Call& call) -> int {
    auto* box = static_cast<BatchBox*>(call.udata_arg(1, kBatchType, "batch"));
    if (!box || !box->batch) return 0;
    HostContext& host = host_context(call.L);
    if (host.loop) host.loop->recycle(std::move(*box->batch));
    box->batch.reset();
    return 0;
  });
}

int batch_gc(lua_State* L) {
  if (auto* box = static_cast<BatchBox*>(lua_touserdata(L, 1))) box->~BatchBox();
  return 0;
}

int set_tick(lua_State* L) {
  return guarded(L, [](Call& call) -> int {
    long long ms = 0;
    if (!call.integer_arg(1, ms, "interval in ms")) return 0;
    auto loop = host_context(call.L).event_loop();
    if (!loop) return call.fail(loop.error_info());
    if (auto set = (*loop)->set_tick(std::chrono::milliseconds(ms)); !set) return call.fail(set.error_info());
    lua_pushboolean(call.L, 1);
    return 1;
  });
}

int set_deadline(lua_State* L) {
  return guarded(L, [](Call& call) -> int {
    long long ms = 0;
    if (!call.integer_arg(1, ms, "duration in ms")) return 0;
    auto loop = host_context(call.L).event_loop();
    if (!loop) return call.fail(loop.error_info());
    if (auto set = (*loop)->set_deadline(std::chrono::milliseconds(ms)); !set) return call.fail(set.error_info());
    lua_pushboolean(call.L, 1);
    return 1;
  });
}

int stop(lua_State* L) {
  HostContext& host = host_context(L);
  if (host.loop) host.loop->stop();
  return 0;
}

int close_all(lua_State* L) {
  host_context(L).close_all();
  return 0;
}

}  // namespace

Result<events::EventLoop*> HostContext::event_loop() {
  if (!loop) {
    events::LoopOptions options;
    if (command_exited) options.signals.push_back(SIGCHLD);
    for (int signal : extra_signals) options.signals.push_back(signal);
    auto created = events::EventLoop::create(options);
    if (!created) return std::move(created).take_error();
    loop.emplace(std::move(created).value());
  }
  return &*loop;
}

void register_loop_bindings(lua_State* L) {
  luaL_newmetatable(L, kBatchType);
  lua_newtable(L);
  lua_pushcfunction(L, batch_view);
  lua_setfield(L, -2, "view");
  lua_pushcfunction(L, batch_release);
  lua_setfield(L, -2, "release");
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, batch_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);

  luaL_getmetatable(L, kObjectType);
  lua_getfield(L, -1, "__index");
  lua_pushcfunction(L, object_reader);
  lua_setfield(L, -2, "reader");
  lua_pop(L, 2);

  static const luaL_Reg functions[] = {{"poll", poll},
                                       {"take_batch", take_batch},
                                       {"reader_stats", reader_stats},
                                       {"set_tick", set_tick},
                                       {"set_deadline", set_deadline},
                                       {"stop", stop},
                                       {"close_all", close_all},
                                       {nullptr, nullptr}};
  luaL_register(L, nullptr, functions);
}

}  // namespace ebpfrun::bindings

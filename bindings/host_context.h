// State shared by every binding of one Lua state: compile settings from the
// command line, the global filter (-p / -c), the one event loop, and the open
// objects (so that an error can detach everything).
#pragma once

#include <lua.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "btf/ffi_declarations.h"
#include "compiler/compiler.h"
#include "events/event_loop.h"
#include "loader/object.h"
#include "template/filter.h"

namespace ebpfrun::bindings {

inline constexpr const char* kObjectType = "ebpf.object";
inline constexpr const char* kLinkType = "ebpf.link";
inline constexpr const char* kMapType = "ebpf.map";
inline constexpr const char* kBatchType = "ebpf.batch";

// One loaded object as the bindings hold it; shared with the links taken from
// it so that a link can tell whether its object was closed.
struct ObjectState {
  ObjectState(loader::Object o, std::string prefix) : object(std::move(o)), ffi(std::move(prefix)) {}
  loader::Object object;
  types::FfiDeclarer ffi;
  std::set<events::ReaderId> readers;
};

// The ebpf.object userdata: null state once closed.
struct ObjectBox {
  std::shared_ptr<ObjectState> state;
};

struct HostContext {
  compiler::CompileOptions compile;
  tmpl::FilterSpec global_filter;  // merged into every compile (ebpfrun -p / -c)
  std::string pin_namespace = "default";
  std::optional<events::EventLoop> loop;
  std::set<std::shared_ptr<ObjectState>> objects;  // open objects, for close_all()
  unsigned next_object = 1;
  // ebpfrun -c: the command starts when the script first polls for events,
  // and the run stops once it has exited (the loop also listens for SIGCHLD).
  std::function<void()> before_first_poll;
  std::function<bool()> command_exited;

  // Detaches and unloads everything the script loaded.
  void close_all();
  // The event loop, created on first use (it takes over SIGINT and SIGTERM).
  Result<events::EventLoop*> event_loop();
};

// The context registered for this Lua state.
HostContext& host_context(lua_State* L);
void set_host_context(lua_State* L, HostContext* context);

// Module openers, called by luaopen_ebpf_core.
void register_object_bindings(lua_State* L);
void register_map_bindings(lua_State* L);
void register_loop_bindings(lua_State* L);
void register_symbols_bindings(lua_State* L);

// Pushes a new object userdata for `state` (object bindings).
void push_object(lua_State* L, std::shared_ptr<ObjectState> state);

}  // namespace ebpfrun::bindings

extern "C" int luaopen_ebpf_core(lua_State* L);

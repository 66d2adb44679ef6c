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
#include <vector>

#include "btf/ffi_declarations.h"
#include "compiler/compiler.h"
#include "events/event_loop.h"
#include "loader/globals.h"
#include "loader/object.h"
#include "metrics/store.h"
#include "template/filter.h"

namespace ebpfrun::attach {
class Link;
}

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
  // ebpfrun agent: where collectors publish their snapshots (null elsewhere),
  // and the signals its event loop reports besides SIGINT/SIGTERM (SIGHUP).
  metrics::SnapshotStore* metrics = nullptr;
  std::vector<int> extra_signals;
  // How this state's objects were obtained (the agent's self-monitoring).
  double compile_cache_hits = 0;
  double compile_cache_misses = 0;
  double compile_seconds = 0;

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
void register_agent_bindings(lua_State* L);
void register_btf_bindings(lua_State* L);
void register_kernel_bindings(lua_State* L);

// Called by register_object_bindings: ebpf.link's metatable, and
// ebpf.compile / ebpf.load set on the module table at the top of the stack.
void register_link_bindings(lua_State* L);
void register_compile_bindings(lua_State* L);
void register_symbols_bindings(lua_State* L);

// Pushes a new object userdata for `state` (object bindings).
void push_object(lua_State* L, std::shared_ptr<ObjectState> state);
// The Lua value at `index` as a global variable's value (a number, a boolean
// or a string); nothing for other types.
std::optional<loader::GlobalValue> global_value(lua_State* L, int index);
// Pushes a link userdata for a link owned by `owner`'s object (link bindings).
void push_link(lua_State* L, const std::shared_ptr<ObjectState>& owner, attach::Link* link);

}  // namespace ebpfrun::bindings

extern "C" int luaopen_ebpf_core(lua_State* L);

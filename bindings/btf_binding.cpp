// Kernel BTF for Lua, for exploring probes:
//
//   core.tracepoint_args(event) → { {name =, type =}, ... } | nil, err
//
// The arguments a raw_tp/tp_btf program at tracepoint `event` (such as
// "sched_switch") receives, in order, with their C types, from the running
// kernel's BTF (runtime/btf/tracepoint_args.h). The REPL's :fields uses it.
#include "bindings/host_context.h"
#include "bindings/lua_support.h"
#include "btf/tracepoint_args.h"

namespace ebpfrun::bindings {
namespace {

int tracepoint_args(lua_State* L) {
  return guarded(L, [](Call& call) -> int {
    std::string event;
    if (!call.string_arg(1, event, "tracepoint name")) return 0;
    auto args = types::tracepoint_args(event);
    if (!args) return call.fail(args.error());
    lua_createtable(call.L, static_cast<int>(args->size()), 0);
    int i = 0;
    for (const auto& arg : *args) {
      lua_createtable(call.L, 0, 2);
      lua_pushlstring(call.L, arg.name.data(), arg.name.size());
      lua_setfield(call.L, -2, "name");
      lua_pushlstring(call.L, arg.type.data(), arg.type.size());
      lua_setfield(call.L, -2, "type");
      lua_rawseti(call.L, -2, ++i);
    }
    return 1;
  });
}

}  // namespace

void register_btf_bindings(lua_State* L) {
  lua_pushcfunction(L, tracepoint_args);
  lua_setfield(L, -2, "tracepoint_args");
}

}  // namespace ebpfrun::bindings

// What the running kernel offers, for the Lua layer.
//
//   core.kernel_function(name, prefix)  → {name, params = {value...}, ret = value|nil} | nil, err
//
// Each value is a table {name, decl, pointer, char_pointer, signed, integer}:
// a parameter of the kernel function `name` from its BTF prototype (the
// return value is named "ret"), and its C declaration naming it
// `prefix .. name`. The one-liners (stdlib/ebpf/oneliner_fields.lua) use it
// to offer the arguments of fentry/fexit and kprobe/kretprobe probes by name
// and to write BPF_PROG() and BPF_KPROBE() signatures.
#include <string>

#include "attach/function_prototype.h"
#include "bindings/host_context.h"
#include "bindings/lua_support.h"

namespace ebpfrun::bindings {
namespace {

void push_value(lua_State* L, const attach::FunctionValue& value) {
  lua_createtable(L, 0, 6);
  lua_pushstring(L, value.name.c_str());
  lua_setfield(L, -2, "name");
  lua_pushstring(L, value.declaration.c_str());
  lua_setfield(L, -2, "decl");
  lua_pushboolean(L, value.pointer);
  lua_setfield(L, -2, "pointer");
  lua_pushboolean(L, value.char_pointer);
  lua_setfield(L, -2, "char_pointer");
  lua_pushboolean(L, value.is_signed);
  lua_setfield(L, -2, "signed");
  lua_pushboolean(L, value.integer);
  lua_setfield(L, -2, "integer");
}

// core.kernel_function(name, prefix)
int kernel_function(lua_State* L) {
  return guarded(L, [](Call& call) -> int {
    std::string name, prefix;
    if (!call.string_arg(1, name, "function name") || !call.string_arg(2, prefix, "declaration prefix")) return 0;
    auto proto = attach::function_prototype(name, prefix);
    if (!proto) return call.fail(proto.error());
    lua_State* L = call.L;
    lua_createtable(L, 0, 3);
    lua_pushstring(L, proto->name.c_str());
    lua_setfield(L, -2, "name");
    lua_createtable(L, static_cast<int>(proto->params.size()), 0);
    for (size_t i = 0; i < proto->params.size(); ++i) {
      push_value(L, proto->params[i]);
      lua_rawseti(L, -2, static_cast<int>(i + 1));
    }
    lua_setfield(L, -2, "params");
    if (proto->ret) {
      push_value(L, *proto->ret);
      lua_setfield(L, -2, "ret");
    }
    return 1;
  });
}

}  // namespace

void register_kernel_bindings(lua_State* L) {
  lua_pushcfunction(L, kernel_function);
  lua_setfield(L, -2, "kernel_function");
}

}  // namespace ebpfrun::bindings

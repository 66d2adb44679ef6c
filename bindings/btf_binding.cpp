// Kernel BTF for Lua, for exploring probes:
//
//   core.tracepoint_args(event) → { {name =, type =}, ... } | nil, err
//
// The arguments a raw_tp/tp_btf program at tracepoint `event` (such as
// "sched_switch") receives, in order, with their C types, from the running
// kernel's BTF (runtime/btf/tracepoint_args.h). The REPL's :fields uses it.
//
//   core.struct_members("struct task_struct") → { {name =, type =, kind =,
//       size =, signed =, bits =, target =, count =}, ... } | nil, err
//
// The members of a kernel struct (runtime/btf/kernel_structs.h), for the
// one-liners' "next->comm" paths, which are checked against them.
//
//   core.kernel_enum_values("enum skb_drop_reason") → { {name =, value =}, ... }
//       | nil, err
//
// The constants of an enum as the running kernel numbers them
// (runtime/btf/kernel_structs.h), for naming values a program read from the
// kernel: an object's own BTF has the values of the kernel it was compiled
// against, which may be another (a prebuilt object).
//
//   core.tracepoints(glob) → { "syscalls/sys_enter_openat", ... } | nil, err
//
// The tracepoints whose "category/name" matches a glob, sorted (the listing
// `ebpfrun -l` prints), for the one-liners' wildcard probes.
//
//   core.function_symbols(binary, glob) → path, { "malloc", ... } | nil, err
//
// A binary's path as uprobes resolve it ("libc" → the library's path) and
// its function symbols matching a glob, sorted (`ebpfrun -l uprobe/...`),
// for wildcard uprobes.
#include "attach/kernel_names.h"
#include "attach/symbols.h"
#include "bindings/host_context.h"
#include "bindings/lua_support.h"
#include "btf/kernel_structs.h"
#include "btf/tracepoint_args.h"

#include <fnmatch.h>

#include <algorithm>

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

int struct_members(lua_State* L) {
  return guarded(L, [](Call& call) -> int {
    std::string name;
    if (!call.string_arg(1, name, "struct name")) return 0;
    auto members = types::struct_members(name);
    if (!members) return call.fail(members.error());
    lua_createtable(call.L, static_cast<int>(members->size()), 0);
    int i = 0;
    for (const auto& m : *members) {
      lua_createtable(call.L, 0, 8);
      set_string(call.L, "name", m.name);
      set_string(call.L, "type", m.type);
      set_string(call.L, "kind", m.kind);
      set_string(call.L, "target", m.target);
      set_number(call.L, "size", m.size);
      set_number(call.L, "bits", m.bits);
      set_number(call.L, "count", m.count);
      lua_pushboolean(call.L, m.is_signed);
      lua_setfield(call.L, -2, "signed");
      lua_rawseti(call.L, -2, ++i);
    }
    return 1;
  });
}

int kernel_enum_values(lua_State* L) {
  return guarded(L, [](Call& call) -> int {
    std::string name;
    if (!call.string_arg(1, name, "enum type name")) return 0;
    auto values = types::kernel_enum_values(name);
    if (!values) return call.fail(values.error_info());
    lua_createtable(call.L, static_cast<int>(values->size()), 0);
    int i = 0;
    for (const auto& [constant, value] : *values) {
      lua_createtable(call.L, 0, 2);
      set_string(call.L, "name", constant);
      set_number(call.L, "value", static_cast<double>(value));
      lua_rawseti(call.L, -2, ++i);
    }
    return 1;
  });
}

int tracepoints(lua_State* L) {
  return guarded(L, [](Call& call) -> int {
    std::string glob;
    if (!call.string_arg(1, glob, "tracepoint pattern")) return 0;
    auto dir = attach::tracefs();
    if (!dir) return call.fail(dir.error());
    std::vector<std::string> found;
    for (const auto& category : attach::tracepoint_categories(*dir))
      for (const auto& name : attach::tracepoints_in(*dir, category)) {
        std::string full = category + "/" + name;
        if (::fnmatch(glob.c_str(), full.c_str(), 0) == 0) found.push_back(full);
      }
    std::sort(found.begin(), found.end());
    lua_createtable(call.L, static_cast<int>(found.size()), 0);
    for (size_t i = 0; i < found.size(); ++i) {
      lua_pushlstring(call.L, found[i].data(), found[i].size());
      lua_rawseti(call.L, -2, static_cast<int>(i + 1));
    }
    return 1;
  });
}

int function_symbols(lua_State* L) {
  return guarded(L, [](Call& call) -> int {
    std::string binary, glob;
    if (!call.string_arg(1, binary, "binary") || !call.string_arg(2, glob, "symbol pattern")) return 0;
    auto path = attach::resolve_binary(binary);
    if (!path) return call.fail(path.error());
    auto symbols = attach::function_symbols(*path);
    if (!symbols) return call.fail(symbols.error());
    std::vector<std::string> found;
    for (const auto& s : *symbols)
      if (::fnmatch(glob.c_str(), s.c_str(), 0) == 0) found.push_back(s);
    std::sort(found.begin(), found.end());
    found.erase(std::unique(found.begin(), found.end()), found.end());
    lua_pushlstring(call.L, path->data(), path->size());
    lua_createtable(call.L, static_cast<int>(found.size()), 0);
    for (size_t i = 0; i < found.size(); ++i) {
      lua_pushlstring(call.L, found[i].data(), found[i].size());
      lua_rawseti(call.L, -2, static_cast<int>(i + 1));
    }
    return 2;
  });
}

}  // namespace

void register_btf_bindings(lua_State* L) {
  lua_pushcfunction(L, tracepoint_args);
  lua_setfield(L, -2, "tracepoint_args");
  lua_pushcfunction(L, struct_members);
  lua_setfield(L, -2, "struct_members");
  lua_pushcfunction(L, kernel_enum_values);
  lua_setfield(L, -2, "kernel_enum_values");
  lua_pushcfunction(L, tracepoints);
  lua_setfield(L, -2, "tracepoints");
  lua_pushcfunction(L, function_symbols);
  lua_setfield(L, -2, "function_symbols");
}

}  // namespace ebpfrun::bindings

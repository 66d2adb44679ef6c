// ebpf.object userdata: attach, info, types from the object's BTF, close.
// Objects are made by ebpf.compile / ebpf.load (compile_binding.cpp); the links
// attach returns are in link_binding.cpp.
#include <bpf/libbpf.h>

#include <optional>
#include <variant>

#include <fmt/format.h>

#include "attach/alternatives.h"
#include "attach/object_links.h"
#include "bindings/host_context.h"
#include "bindings/lua_support.h"
#include "loader/globals.h"

namespace ebpfrun::bindings {
namespace {

ObjectState* open_state(Call& call, int index) {
  auto* box = static_cast<ObjectBox*>(call.udata_arg(index, kObjectType, "object"));
  if (!box) return nullptr;
  if (!box->state || !box->state->object.is_open()) {
    call.raise("attempt to use a closed BPF object");
    return nullptr;
  }
  return box->state.get();
}

const struct btf* object_btf(const ObjectState& state) { return bpf_object__btf(state.object.raw()); }

Error no_btf_error(const ObjectState& state) {
  return make_error(ErrorKind::not_found,
                    fmt::format("BPF object {} has no BTF, so its types are unknown", state.object.name()));
}

int object_attach(lua_State* L) {
  return guarded(L, [](Call& call) -> int {
    auto* box = static_cast<ObjectBox*>(call.udata_arg(1, kObjectType, "object"));
    ObjectState* state = box ? open_state(call, 1) : nullptr;
    std::string program, spec;
    std::vector<std::string> alternatives;
    if (!state || !call.string_arg(2, program, "program name")) return 0;
    // A list of specs: alternatives in order of preference.
    if (lua_istable(call.L, 3) ? !call.string_list_arg(3, alternatives, "attach points")
                               : !call.optional_string_arg(3, spec, "spec"))
      return 0;
    attach::AttachOptions options;
    if (lua_isnumber(call.L, 4)) options.pid = static_cast<int>(lua_tonumber(call.L, 4));
    auto link = lua_istable(call.L, 3) ? attach::attach_first(state->object, program, alternatives, options)
                                       : attach::attach_in(state->object, program, spec, options);
    if (!link) return call.fail(link.error_info());
    push_link(call.L, box->state, *link);
    return 1;
  });
}

int object_attach_all(lua_State* L) {
  return guarded(L, [](Call& call) -> int {
    auto* box = static_cast<ObjectBox*>(call.udata_arg(1, kObjectType, "object"));
    ObjectState* state = box ? open_state(call, 1) : nullptr;
    if (!state) return 0;
    attach::AttachPlan plan;
    if (lua_isnumber(call.L, 2)) plan.options.pid = static_cast<int>(lua_tonumber(call.L, 2));
    std::vector<std::string> optional;
    if (!call.string_lists_arg(3, plan.alternatives, "alternatives") ||
        !call.string_list_arg(4, optional, "optional (program names)") ||
        !call.string_lists_arg(5, plan.also_attach, "also_attach"))
      return 0;
    plan.optional.insert(optional.begin(), optional.end());
    auto links = attach::attach_all(state->object, plan);
    if (!links) return call.fail(links.error_info());
    lua_createtable(call.L, static_cast<int>(links->size()), 0);
    int i = 1;
    for (attach::Link* link : *links) {
      push_link(call.L, box->state, link);
      lua_rawseti(call.L, -2, i++);
    }
    return 1;
  });
}

void close_state(HostContext& host, const std::shared_ptr<ObjectState>& state) {
  if (!state) return;
  if (host.loop)
    for (auto id : state->readers) (void)host.loop->remove(id);
  state->readers.clear();
  state->object.close();
  host.objects.erase(state);
}

int object_close(lua_State* L) {
  return guarded(L, [](Call& call) -> int {
    auto* box = static_cast<ObjectBox*>(call.udata_arg(1, kObjectType, "object"));
    if (!box) return 0;
    close_state(host_context(call.L), box->state);
    box->state.reset();
    return 0;
  });
}

int object_gc(lua_State* L) {
  auto* box = static_cast<ObjectBox*>(lua_touserdata(L, 1));
  // Idempotent: an explicit close() already reset the state. Objects still open
  // at shutdown are closed by HostContext::close_all before the state goes.
  if (box) {
    if (box->state && box->state.use_count() == 2) close_state(host_context(L), box->state);
    box->~ObjectBox();
  }
  return 0;
}

int object_info(lua_State* L) {
  return guarded(L, [](Call& call) -> int {
    ObjectState* state = open_state(call, 1);
    if (!state) return 0;
    lua_createtable(call.L, 0, 3);
    set_string(call.L, "name", state->object.name());
    lua_newtable(call.L);
    int i = 1;
    for (const auto& p : state->object.programs()) {
      lua_createtable(call.L, 0, 5);
      set_string(call.L, "name", p.name);
      set_string(call.L, "section", p.section);
      set_string(call.L, "type", p.type);
      set_number(call.L, "id", p.id);
      set_number(call.L, "instructions", static_cast<double>(p.instructions));
      set_bool(call.L, "loaded", p.fd >= 0);
      lua_rawseti(call.L, -2, i++);
    }
    lua_setfield(call.L, -2, "programs");
    lua_newtable(call.L);
    i = 1;
    for (const auto& m : state->object.maps()) {
      lua_createtable(call.L, 0, 4);
      set_string(call.L, "name", m.name);
      set_string(call.L, "type", m.type);
      set_number(call.L, "id", m.id);
      set_number(call.L, "max_entries", m.max_entries);
      lua_rawseti(call.L, -2, i++);
    }
    lua_setfield(call.L, -2, "maps");
    set_number(call.L, "attachments", static_cast<double>(state->object.attachment_count()));
    lua_newtable(call.L);
    i = 1;
    for (const auto& note : state->object.notes()) {
      lua_pushlstring(call.L, note.data(), note.size());
      lua_rawseti(call.L, -2, i++);
    }
    lua_setfield(call.L, -2, "notes");
    return 1;
  });
}

void push_global_value(lua_State* L, const loader::GlobalValue& value) {
  if (const double* n = std::get_if<double>(&value))
    lua_pushnumber(L, *n);
  else if (const bool* flag = std::get_if<bool>(&value))
    lua_pushboolean(L, *flag);
  else
    lua_pushlstring(L, std::get<std::string>(value).data(), std::get<std::string>(value).size());
}

// obj:global_get(name) → value. A name the object lacks, or a type the
// bindings cannot show, is misuse and raises (the message lists the globals).
int object_global_get(lua_State* L) {
  return guarded(L, [](Call& call) -> int {
    ObjectState* state = open_state(call, 1);
    std::string name;
    if (!state || !call.string_arg(2, name, "global name")) return 0;
    auto value = loader::get_global(state->object, name);
    if (!value) return call.raise(value.error());
    push_global_value(call.L, *value);
    return 1;
  });
}

// obj:global_set(name, value): writes a .data/.bss global of a loaded object.
// Misuse (unknown name, wrong type, out of range, a const global) raises.
int object_global_set(lua_State* L) {
  return guarded(L, [](Call& call) -> int {
    ObjectState* state = open_state(call, 1);
    std::string name;
    if (!state || !call.string_arg(2, name, "global name")) return 0;
    auto value = global_value(call.L, 3);
    if (!value) return call.raise(fmt::format("global '{}' takes a number, a boolean or a string", name));
    if (auto set = loader::set_global(state->object, name, *value); !set) return call.raise(set.error());
    return 0;
  });
}

// obj:global_names() → { "name (section)", ... }
int object_global_names(lua_State* L) {
  return guarded(L, [](Call& call) -> int {
    ObjectState* state = open_state(call, 1);
    if (!state) return 0;
    auto names = loader::global_names(state->object);
    lua_createtable(call.L, static_cast<int>(names.size()), 0);
    for (size_t i = 0; i < names.size(); ++i) {
      lua_pushstring(call.L, names[i].c_str());
      lua_rawseti(call.L, -2, static_cast<int>(i + 1));
    }
    return 1;
  });
}

// obj:declare_type("struct event") → cdef, type_name, size | nil, err
int object_declare_type(lua_State* L) {
  return guarded(L, [](Call& call) -> int {
    ObjectState* state = open_state(call, 1);
    std::string name;
    if (!state || !call.string_arg(2, name, "type name")) return 0;
    const struct btf* btf = object_btf(*state);
    if (!btf) return call.fail(no_btf_error(*state));
    auto type = state->ffi.declare_by_name(btf, name);
    if (!type) return call.fail(type.error_info());
    lua_pushlstring(call.L, type->cdef.data(), type->cdef.size());
    lua_pushstring(call.L, type->type_name.c_str());
    lua_pushnumber(call.L, static_cast<double>(type->size));
    return 3;
  });
}

// obj:enum_values("enum skb_drop_reason") → { {name = "...", value = n}, ... }
// in declaration order | nil, err. Scripts name kernel enum constants (drop
// reasons, TCP states) from the BTF of the kernel they run on rather than
// from a list that goes stale; the BPF C only has to use the enum in a type
// that reaches the object's BTF (an event struct member, say).
int object_enum_values(lua_State* L) {
  return guarded(L, [](Call& call) -> int {
    ObjectState* state = open_state(call, 1);
    std::string name;
    if (!state || !call.string_arg(2, name, "enum type name")) return 0;
    const struct btf* btf = object_btf(*state);
    if (!btf) return call.fail(no_btf_error(*state));
    auto id = types::find_type(btf, name);
    if (!id) return call.fail(id.error_info());
    auto values = types::enum_values(btf, *id);
    if (!values) return call.fail(values.error_info());
    lua_createtable(call.L, static_cast<int>(values->size()), 0);
    int i = 1;
    for (const auto& [constant, value] : *values) {
      lua_createtable(call.L, 0, 2);
      lua_pushlstring(call.L, constant.data(), constant.size());
      lua_setfield(call.L, -2, "name");
      set_number(call.L, "value", static_cast<double>(value));
      lua_rawseti(call.L, -2, i++);
    }
    return 1;
  });
}

int object_tostring(lua_State* L) {
  auto* box = static_cast<ObjectBox*>(lua_touserdata(L, 1));
  if (box && box->state)
    lua_pushfstring(L, "ebpf.object(%s)", box->state->object.name().c_str());
  else
    lua_pushliteral(L, "ebpf.object(closed)");
  return 1;
}

}  // namespace

// A Lua value as a global's value: a number, a boolean or a string, else
// nothing (the caller raises).
std::optional<loader::GlobalValue> global_value(lua_State* L, int index) {
  switch (lua_type(L, index)) {
    case LUA_TNUMBER:
      return loader::GlobalValue(lua_tonumber(L, index));
    case LUA_TBOOLEAN:
      return loader::GlobalValue(static_cast<bool>(lua_toboolean(L, index)));
    case LUA_TSTRING: {
      size_t length = 0;
      const char* text = lua_tolstring(L, index, &length);
      return loader::GlobalValue(std::string(text, length));
    }
    default:
      return std::nullopt;
  }
}

void push_object(lua_State* L, std::shared_ptr<ObjectState> state) {
  push_udata<ObjectBox>(L, kObjectType, ObjectBox{std::move(state)});
}

void register_object_bindings(lua_State* L) {
  static const luaL_Reg object_methods[] = {{"attach", object_attach},
                                            {"attach_all", object_attach_all},
                                            {"close", object_close},
                                            {"info", object_info},
                                            {"declare_type", object_declare_type},
                                            {"enum_values", object_enum_values},
                                            {"global_get", object_global_get},
                                            {"global_set", object_global_set},
                                            {"global_names", object_global_names},
                                            {nullptr, nullptr}};
  luaL_newmetatable(L, kObjectType);
  lua_newtable(L);
  luaL_register(L, nullptr, object_methods);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, object_gc);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, object_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pop(L, 1);

  register_link_bindings(L);
  register_compile_bindings(L);
}

void HostContext::close_all() {
  while (!objects.empty()) {
    auto state = *objects.begin();
    if (loop)
      for (auto id : state->readers) (void)loop->remove(id);
    state->readers.clear();
    state->object.close();
    objects.erase(state);
  }
}

}  // namespace ebpfrun::bindings

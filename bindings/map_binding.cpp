// ebpf.map userdata: raw byte-level map operations. The Lua side (stdlib
// ebpf/init.lua) converts between these bytes and typed FFI values, using the
// key and value types this binding declares from the object's BTF.
#include <bpf/libbpf.h>

#include <fmt/format.h>

#include "bindings/host_context.h"
#include "bindings/lua_support.h"
#include "maps/map.h"

namespace ebpfrun::bindings {
namespace {

struct MapBox {
  std::shared_ptr<ObjectState> owner;
  maps::Map map;
};

MapBox* live_map(Call& call, int index) {
  auto* box = static_cast<MapBox*>(call.udata_arg(index, kMapType, "map"));
  if (!box) return nullptr;
  if (!box->owner || !box->owner->object.is_open()) {
    call.raise(fmt::format("attempt to use map '{}' of a closed BPF object", box->map.info().name));
    return nullptr;
  }
  return box;
}

void push_bytes(lua_State* L, const std::string& bytes) { lua_pushlstring(L, bytes.data(), bytes.size()); }

bool bytes_arg(Call& call, int index, std::string& out, const char* what) { return call.string_arg(index, out, what); }

// Pushes {cdef=, type=, size=} for a BTF type id, or false when there is no BTF for it.
void push_type(Call& call, ObjectState& state, uint32_t type_id, std::string& error) {
  const struct btf* btf = bpf_object__btf(state.object.raw());
  if (!btf || type_id == 0) {
    lua_pushboolean(call.L, 0);
    return;
  }
  auto type = state.ffi.declare(btf, type_id);
  if (!type) {
    error = type.error();
    lua_pushboolean(call.L, 0);
    return;
  }
  lua_createtable(call.L, 0, 3);
  set_string(call.L, "cdef", type->cdef);
  set_string(call.L, "type", type->type_name);
  set_number(call.L, "size", static_cast<double>(type->size));
}

int object_map(lua_State* L) {
  return guarded(L, [](Call& call) -> int {
    auto* box = static_cast<ObjectBox*>(call.udata_arg(1, kObjectType, "object"));
    std::string name;
    if (!box || !call.string_arg(2, name, "map name")) return 0;
    if (!box->state || !box->state->object.is_open()) return call.raise("attempt to use a closed BPF object");
    ObjectState& state = *box->state;
    const bpf_map* raw = state.object.find_map(name);
    if (!raw) {
      std::string names;
      for (const auto& m : state.object.maps()) names += (names.empty() ? "" : ", ") + m.name;
      return call.fail(make_error(ErrorKind::not_found, fmt::format("BPF object {} has no map '{}'; its maps are: {}",
                                                                    state.object.name(), name, names)));
    }
    auto map = maps::Map::from_object_map(raw, bpf_object__btf(state.object.raw()));
    if (!map) return call.fail(map.error_info());
    push_udata<MapBox>(call.L, kMapType, MapBox{box->state, std::move(map).value()});
    return 1;
  });
}

int map_info(lua_State* L) {
  return guarded(L, [](Call& call) -> int {
    MapBox* box = live_map(call, 1);
    if (!box) return 0;
    const auto& info = box->map.info();
    lua_createtable(call.L, 0, 12);
    set_string(call.L, "name", info.name);
    set_string(call.L, "type", info.type_name);
    set_number(call.L, "key_size", info.key_size);
    set_number(call.L, "value_size", info.value_size);
    set_number(call.L, "user_value_size", static_cast<double>(box->map.user_value_size()));
    set_number(call.L, "max_entries", info.max_entries);
    set_number(call.L, "flags", info.flags);
    set_number(call.L, "id", info.id);
    set_bool(call.L, "per_cpu", info.per_cpu);
    set_number(call.L, "cpus", maps::Map::possible_cpus());
    std::string error;
    push_type(call, *box->owner, info.btf_key_type_id, error);
    lua_setfield(call.L, -2, "key");
    push_type(call, *box->owner, info.btf_value_type_id, error);
    lua_setfield(call.L, -2, "value");
    if (!error.empty()) {
      set_string(call.L, "type_error", error);
    }
    return 1;
  });
}

int map_lookup(lua_State* L) {
  return guarded(L, [](Call& call) -> int {
    MapBox* box = live_map(call, 1);
    std::string key;
    if (!box || !bytes_arg(call, 2, key, "key")) return 0;
    auto value = box->map.lookup(key);
    if (!value) return call.fail(value.error_info());
    if (!value->has_value()) {
      lua_pushnil(call.L);
      return 1;
    }
    push_bytes(call.L, **value);
    return 1;
  });
}

int map_update(lua_State* L) {
  return guarded(L, [](Call& call) -> int {
    MapBox* box = live_map(call, 1);
    std::string key, value;
    long long flags = 0;
    if (!box || !bytes_arg(call, 2, key, "key") || !bytes_arg(call, 3, value, "value")) return 0;
    if (!lua_isnoneornil(call.L, 4) && !call.integer_arg(4, flags, "flags")) return 0;
    if (auto updated = box->map.update(key, value, static_cast<uint64_t>(flags)); !updated)
      return call.fail(updated.error_info());
    lua_pushboolean(call.L, 1);
    return 1;
  });
}

int map_delete(lua_State* L) {
  return guarded(L, [](Call& call) -> int {
    MapBox* box = live_map(call, 1);
    std::string key;
    if (!box || !bytes_arg(call, 2, key, "key")) return 0;
    auto erased = box->map.erase(key);
    if (!erased) return call.fail(erased.error_info());
    lua_pushboolean(call.L, *erased);
    return 1;
  });
}

// map:entries(and_delete) → keys, values (two arrays of byte strings)
int map_entries(lua_State* L) {
  return guarded(L, [](Call& call) -> int {
    MapBox* box = live_map(call, 1);
    if (!box) return 0;
    auto entries = box->map.entries(lua_toboolean(call.L, 2));
    if (!entries) return call.fail(entries.error_info());
    lua_createtable(call.L, static_cast<int>(entries->size()), 0);
    lua_createtable(call.L, static_cast<int>(entries->size()), 0);
    int i = 1;
    for (const auto& e : *entries) {
      push_bytes(call.L, e.key);
      lua_rawseti(call.L, -3, i);
      push_bytes(call.L, e.value);
      lua_rawseti(call.L, -2, i++);
    }
    return 2;
  });
}

int map_clear(lua_State* L) {
  return guarded(L, [](Call& call) -> int {
    MapBox* box = live_map(call, 1);
    if (!box) return 0;
    if (auto cleared = box->map.clear(); !cleared) return call.fail(cleared.error_info());
    lua_pushboolean(call.L, 1);
    return 1;
  });
}

int map_gc(lua_State* L) {
  if (auto* box = static_cast<MapBox*>(lua_touserdata(L, 1))) box->~MapBox();
  return 0;
}

}  // namespace

void register_map_bindings(lua_State* L) {
  static const luaL_Reg methods[] = {{"info", map_info},     {"lookup", map_lookup},   {"update", map_update},
                                     {"delete", map_delete}, {"entries", map_entries}, {"clear", map_clear},
                                     {nullptr, nullptr}};
  luaL_newmetatable(L, kMapType);
  lua_newtable(L);
  luaL_register(L, nullptr, methods);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, map_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
  // obj:map(name) lives on the object's method table.
  luaL_getmetatable(L, kObjectType);
  lua_getfield(L, -1, "__index");
  lua_pushcfunction(L, object_map);
  lua_setfield(L, -2, "map");
  lua_pop(L, 2);
}

}  // namespace ebpfrun::bindings

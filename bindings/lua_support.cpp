#include "bindings/lua_support.h"

#include <cstring>

#include <fmt/format.h>

namespace ebpfrun::bindings {
namespace {

int traceback(lua_State* L) {
  const char* message = lua_tostring(L, 1);
  if (!message) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_isstring(L, -1)) return 1;
    message = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  }
  // An error re-raised after an inner xpcall (an event handler's, say) already
  // carries the traceback of where it happened; a second one, of where it was
  // re-raised, would only bury it.
  if (std::strstr(message, "\nstack traceback:\n")) {
    lua_pushstring(L, message);
    return 1;
  }
  luaL_traceback(L, L, message, 1);
  return 1;
}

}  // namespace

bool Call::string_arg(int index, std::string& out, const char* what) {
  if (lua_type(L, index) != LUA_TSTRING) {
    raise(fmt::format("bad argument #{} ({}): string expected, got {}", index, what, luaL_typename(L, index)));
    return false;
  }
  size_t len = 0;
  const char* s = lua_tolstring(L, index, &len);
  out.assign(s, len);
  return true;
}

bool Call::optional_string_arg(int index, std::string& out, const char* what) {
  if (lua_isnoneornil(L, index)) {
    out.clear();
    return true;
  }
  return string_arg(index, out, what);
}

bool Call::integer_arg(int index, long long& out, const char* what) {
  if (lua_type(L, index) != LUA_TNUMBER) {
    raise(fmt::format("bad argument #{} ({}): number expected, got {}", index, what, luaL_typename(L, index)));
    return false;
  }
  out = static_cast<long long>(lua_tonumber(L, index));
  return true;
}

void* Call::udata_arg(int index, const char* type_name, const char* what) {
  void* p = lua_touserdata(L, index);
  if (p && lua_getmetatable(L, index)) {
    luaL_getmetatable(L, type_name);
    bool same = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    if (same) return p;
  }
  raise(fmt::format("bad argument #{} ({}): {} expected, got {}", index, what, type_name, luaL_typename(L, index)));
  return nullptr;
}

std::string protected_call(lua_State* L, int nargs, int nresults) {
  int base = lua_gettop(L) - nargs;
  lua_pushcfunction(L, traceback);
  lua_insert(L, base);
  int status = lua_pcall(L, nargs, nresults, base);
  lua_remove(L, base);
  if (status == 0) return {};
  size_t len = 0;
  const char* message = lua_tolstring(L, -1, &len);
  std::string out = message ? std::string(message, len) : std::string("(error object is not a string)");
  lua_pop(L, 1);
  return out;
}

}  // namespace ebpfrun::bindings

#include "bindings/lua_support.h"

#include <cstring>

#include <fmt/format.h>

namespace ebpfrun::bindings {
namespace {

constexpr const char* kErrorType = "ebpfrun.error";

int traceback(lua_State* L) {
  const char* message = lua_tostring(L, 1);
  if (!message) {
    // An error object raised by assert(obj:attach_all()) or error(err) gets
    // the same traceback its message would have had as a string.
    if (luaL_callmeta(L, 1, "__tostring") && lua_isstring(L, -1))
      message = lua_tostring(L, -1);
    else
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

// Replaces the value at `index` by its message when it is an error object.
void error_to_message(lua_State* L, int index) {
  if (lua_type(L, index) != LUA_TTABLE) return;
  lua_getfield(L, index, "message");
  lua_replace(L, index);
}

int error_tostring(lua_State* L) {
  lua_getfield(L, 1, "message");
  return 1;
}

// "x" .. err and err .. "x": the message takes part; anything else that is
// not a string or number fails the way concatenation always does.
int error_concat(lua_State* L) {
  error_to_message(L, 1);
  error_to_message(L, 2);
  lua_concat(L, 2);
  return 1;
}

// err:match(...) and the other string methods, called on the message. The
// closure's upvalue is the string library function. (Plain C: a Lua error
// raised by the string function unwinds no C++ object.)
int error_string_method(lua_State* L) {
  error_to_message(L, 1);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
  return lua_gettop(L);
}

// Missing fields (every field of the object is a raw field): the string
// library's function of that name, wrapped to act on the message.
int error_index(lua_State* L) {
  lua_getglobal(L, "string");
  if (!lua_istable(L, -1)) return 0;
  lua_pushvalue(L, 2);
  lua_rawget(L, -2);
  if (!lua_isfunction(L, -1)) return 0;
  lua_pushcclosure(L, error_string_method, 1);
  return 1;
}

void push_error_metatable(lua_State* L) {
  if (luaL_newmetatable(L, kErrorType) == 0) return;  // already made
  lua_pushcfunction(L, error_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pushcfunction(L, error_concat);
  lua_setfield(L, -2, "__concat");
  lua_pushcfunction(L, error_index);
  lua_setfield(L, -2, "__index");
}

}  // namespace

void push_error(lua_State* L, const Error& error) {
  lua_createtable(L, 0, 4);
  set_string(L, "message", error.message);
  set_string(L, "kind", error_kind_name(error.kind));
  if (error.err_no != 0) set_number(L, "errno", error.err_no);
  if (!error.log.empty()) set_string(L, "log", error.log);
  push_error_metatable(L);
  lua_setmetatable(L, -2);
}

int Call::fail(const Error& error) {
  lua_pushnil(L);
  push_error(L, error);
  return 2;
}

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

bool Call::string_list_arg(int index, std::vector<std::string>& out, const char* what) {
  out.clear();
  if (lua_isnoneornil(L, index)) return true;
  if (!lua_istable(L, index)) {
    raise(fmt::format("{}: a list of strings expected, got {}", what, luaL_typename(L, index)));
    return false;
  }
  for (int i = 1;; ++i) {
    lua_rawgeti(L, index, i);
    if (lua_isnil(L, -1)) {
      lua_pop(L, 1);
      return true;
    }
    if (lua_type(L, -1) != LUA_TSTRING) {
      lua_pop(L, 1);
      raise(fmt::format("{}: item {} is not a string", what, i));
      return false;
    }
    out.emplace_back(lua_tostring(L, -1));
    lua_pop(L, 1);
  }
}

bool Call::string_lists_arg(int index, std::map<std::string, std::vector<std::string>>& out, const char* what) {
  out.clear();
  if (lua_isnoneornil(L, index)) return true;
  if (!lua_istable(L, index)) {
    raise(fmt::format("{}: a table of name = {{ list of strings }} expected, got {}", what, luaL_typename(L, index)));
    return false;
  }
  index = index < 0 ? lua_gettop(L) + index + 1 : index;
  lua_pushnil(L);
  while (lua_next(L, index)) {
    if (lua_type(L, -2) != LUA_TSTRING) {
      lua_pop(L, 2);
      raise(fmt::format("{}: keys must be program names", what));
      return false;
    }
    std::string name = lua_tostring(L, -2);
    std::vector<std::string> list;
    if (lua_type(L, -1) == LUA_TSTRING)
      list.emplace_back(lua_tostring(L, -1));
    else if (!string_list_arg(lua_gettop(L), list, what)) {
      lua_pop(L, 2);
      return false;
    }
    out[name] = std::move(list);
    lua_pop(L, 1);
  }
  return true;
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

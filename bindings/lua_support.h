// Helpers for the LuaJIT C API with one rule: a Lua error must never unwind
// through C++ frames (destructors would be skipped) or through libbpf.
//
// Every binding is written as `return guarded(L, [&](Call& call) { ... });`.
// The body does its C++ work and, to fail, records a message with
// call.raise(...) (misuse: raised as a Lua error) and returns. guarded() only
// calls lua_error once the body and all its C++ objects are gone. Arguments
// are read with the non-raising accessors below, never luaL_check*.
//
// A runtime failure is returned as `nil, err` (call.fail). err is an error
// object: a table { message, kind, errno, log } whose metatable makes it
// behave as its message wherever a string is expected — tostring(err),
// print(err), "x" .. err, string.format("%s", err) and string methods
// (err:match(...), err:find(...)) — so scripts written for string errors keep
// working, while new code decides by err.kind. (A plain string answers
// err.kind with nil, so `err.kind == "not_found"` works on both.)
#pragma once

#include <lua.hpp>

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

namespace ebpfrun::bindings {

class Call {
 public:
  explicit Call(lua_State* L) : L(L) {}
  lua_State* const L;

  // Misuse by the script (wrong argument type, closed handle): a Lua error.
  int raise(std::string message) {
    error_ = std::move(message);
    return 0;
  }
  // A runtime failure: returns nil, err (OpenResty style), err an error
  // object of the error's kind (see the top of this file).
  int fail(const Error& error);
  // The same for a message without a more specific kind (kind "other").
  int fail(std::string_view message) { return fail(make_error(std::string(message))); }
  bool raised() const { return !error_.empty(); }
  const std::string& error() const { return error_; }

  // Non-raising argument accessors; they return false and record a misuse
  // message naming the argument when the type is wrong.
  bool string_arg(int index, std::string& out, const char* what);
  bool optional_string_arg(int index, std::string& out, const char* what);
  bool integer_arg(int index, long long& out, const char* what);
  void* udata_arg(int index, const char* type_name, const char* what);
  // A list of strings at `index` (nil gives an empty list).
  bool string_list_arg(int index, std::vector<std::string>& out, const char* what);
  // A table of name = list of strings at `index` (nil gives an empty map).
  bool string_lists_arg(int index, std::map<std::string, std::vector<std::string>>& out, const char* what);

 private:
  std::string error_;
};

template <typename Body>
int guarded(lua_State* L, Body&& body) {
  int results = 0;
  {
    std::string message;
    {
      Call call(L);
      results = body(call);
      if (call.raised()) message = call.error();
    }
    if (!message.empty()) {
      lua_pushlstring(L, message.data(), message.size());
      message.clear();
      message.shrink_to_fit();
      results = -1;
    }
  }
  if (results < 0) return lua_error(L);  // only the message string is on the stack; nothing to destroy
  return results;
}

// t[key] = value for the table on top of the stack (result tables of the bindings).
inline void set_number(lua_State* L, const char* key, double value) {
  lua_pushnumber(L, value);
  lua_setfield(L, -2, key);
}
inline void set_string(lua_State* L, const char* key, std::string_view value) {
  lua_pushlstring(L, value.data(), value.size());
  lua_setfield(L, -2, key);
}
inline void set_bool(lua_State* L, const char* key, bool value) {
  lua_pushboolean(L, value);
  lua_setfield(L, -2, key);
}

// Creates a userdata of type T (placement-new) with the named metatable.
template <typename T, typename... Args>
T* push_udata(lua_State* L, const char* type_name, Args&&... args) {
  void* memory = lua_newuserdata(L, sizeof(T));
  T* object = new (memory) T(std::forward<Args>(args)...);
  luaL_getmetatable(L, type_name);
  lua_setmetatable(L, -2);
  return object;
}

// Pushes the error object for `error`: { message = ..., kind = "not_found",
// errno = 2 (absent when 0), log = ... (absent when empty) } with the shared
// "ebpfrun.error" metatable.
void push_error(lua_State* L, const Error& error);

// Calls the function on top of the stack (below its nargs arguments) with a
// traceback handler. Returns an empty string on success, else the message with
// its traceback.
std::string protected_call(lua_State* L, int nargs, int nresults);

}  // namespace ebpfrun::bindings

#include "bindings/lua_host.h"

#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

#include "bindings/embedded_stdlib.h"
#include "bindings/lua_support.h"
#include "common/files.h"
#include "common/log.h"

#ifndef EBPFRUN_VERSION
#define EBPFRUN_VERSION "unknown"
#endif

namespace ebpfrun::bindings {
namespace {

constexpr const char* kContextKey = "ebpfrun.host_context";

// package.loaders entry for the embedded standard library. With
// EBPFRUN_STDLIB_DIR set (development), modules are read from that directory
// instead, so edits show up without rebuilding.
int embedded_searcher(lua_State* L) {
  std::string name = luaL_checkstring(L, 1);
  std::string path = name;
  for (char& c : path)
    if (c == '.') c = '/';
  const std::string candidates[] = {path + ".lua", path + "/init.lua"};
  if (const char* dir = std::getenv("EBPFRUN_STDLIB_DIR"); dir && *dir) {
    for (const auto& candidate : candidates) {
      std::string full = std::string(dir) + "/" + candidate;
      if (files::exists(full)) {
        if (luaL_loadfile(L, full.c_str()) != 0) return lua_error(L);
        return 1;
      }
    }
  }
  for (const auto& file : embedded_stdlib()) {
    for (const auto& candidate : candidates) {
      if (file.path == candidate) {
        std::string chunk = "@stdlib/" + candidate;
        if (luaL_loadbuffer(L, file.source.data(), file.source.size(), chunk.c_str()) != 0) return lua_error(L);
        return 1;
      }
    }
  }
  lua_pushfstring(L, "\n\tno embedded module '%s'", name.c_str());
  return 1;
}

void install_searcher(lua_State* L) {
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "loaders");
  // Shift the loaders after the preload searcher up by one; ours goes second.
  int n = static_cast<int>(lua_objlen(L, -1));
  for (int i = n; i >= 2; --i) {
    lua_rawgeti(L, -1, i);
    lua_rawseti(L, -2, i + 1);
  }
  lua_pushcfunction(L, embedded_searcher);
  lua_rawseti(L, -2, 2);
  lua_pop(L, 2);
}

constexpr const char* kExitSentinel =
    "\x01"
    "ebpfrun-exit"
    "\x01";

// os.exit replacement: records the code and unwinds with a sentinel error, so
// that the host (not libc's exit) ends the process after detaching.
int lua_exit(lua_State* L) {
  int code = 0;
  if (lua_isboolean(L, 1))
    code = lua_toboolean(L, 1) ? 0 : 1;
  else if (lua_isnumber(L, 1))
    code = static_cast<int>(lua_tonumber(L, 1));
  lua_pushnumber(L, code);
  lua_setfield(L, LUA_REGISTRYINDEX, "ebpfrun.exit_code");
  lua_pushstring(L, kExitSentinel);
  return lua_error(L);
}

LuaHost::Outcome outcome_of(lua_State* L, const std::string& error) {
  LuaHost::Outcome out;
  if (error.empty()) return out;
  if (error.find(kExitSentinel) != std::string::npos) {
    lua_getfield(L, LUA_REGISTRYINDEX, "ebpfrun.exit_code");
    out.exit_code = static_cast<int>(lua_tonumber(L, -1));
    lua_pop(L, 1);
    return out;
  }
  out.exit_code = 1;
  out.error = error;
  return out;
}

}  // namespace

HostContext& host_context(lua_State* L) {
  lua_getfield(L, LUA_REGISTRYINDEX, kContextKey);
  auto* context = static_cast<HostContext*>(lua_touserdata(L, -1));
  lua_pop(L, 1);
  return *context;
}

void set_host_context(lua_State* L, HostContext* context) {
  lua_pushlightuserdata(L, context);
  lua_setfield(L, LUA_REGISTRYINDEX, kContextKey);
}

Result<std::unique_ptr<LuaHost>> LuaHost::create(HostOptions options) {
  std::unique_ptr<LuaHost> host(new LuaHost());
  host->options_ = std::move(options);
  host->context_.compile = host->options_.compile;
  host->context_.global_filter = host->options_.global_filter;
  host->context_.pin_namespace = host->options_.pin_namespace;
  lua_State* L = luaL_newstate();
  if (!L) return make_error("cannot create a Lua state (out of memory)");
  host->L_ = L;
  luaL_openlibs(L);
  set_host_context(L, &host->context_);
  install_searcher(L);
  lua_getglobal(L, "os");
  lua_pushcfunction(L, lua_exit);
  lua_setfield(L, -2, "exit");
  lua_pop(L, 1);
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "preload");
  lua_pushcfunction(L, luaopen_ebpf_core);
  lua_setfield(L, -2, "ebpf.core");
  lua_pop(L, 2);

  // ebpf.options tells scripts how they were started (format, filters).
  lua_newtable(L);
  set_string(L, "format", host->options_.format);
  set_bool(L, "stats", host->options_.stats);
  // -v: scripts add debug lines of their own (a collector's attach path).
  set_bool(L, "verbose", log::level() <= log::Level::debug);
  set_string(L, "version", EBPFRUN_VERSION);
  lua_setfield(L, LUA_REGISTRYINDEX, "ebpfrun.options");

  if (host->options_.oneliner_globals) {
    auto done = host->run_string("for k, v in pairs(require 'ebpf.oneliner') do _G[k] = v end", "=oneliner");
    if (!done.error.empty()) return make_error(done.error);
  }
  return host;
}

LuaHost::~LuaHost() {
  // Detach before the Lua state goes: closing the state runs __gc in an order
  // we do not control, and the loop must outlive the readers it polls.
  context_.close_all();
  if (L_) lua_close(L_);
  context_.loop.reset();
}

LuaHost::Outcome LuaHost::run_file(const std::string& path, const std::vector<std::string>& args) {
  lua_createtable(L_, static_cast<int>(args.size()), 1);
  lua_pushstring(L_, path.c_str());
  lua_rawseti(L_, -2, 0);
  for (size_t i = 0; i < args.size(); ++i) {
    lua_pushstring(L_, args[i].c_str());
    lua_rawseti(L_, -2, static_cast<int>(i + 1));
  }
  lua_setglobal(L_, "arg");
  if (luaL_loadfile(L_, path.c_str()) != 0) {
    Outcome out{1, lua_tostring(L_, -1)};
    lua_pop(L_, 1);
    return out;
  }
  for (const auto& a : args) lua_pushstring(L_, a.c_str());
  return outcome_of(L_, protected_call(L_, static_cast<int>(args.size()), 0));
}

LuaHost::Outcome LuaHost::run_string(const std::string& code, const std::string& chunk_name) {
  if (luaL_loadbuffer(L_, code.data(), code.size(), chunk_name.c_str()) != 0) {
    Outcome out{1, lua_tostring(L_, -1)};
    lua_pop(L_, 1);
    return out;
  }
  return outcome_of(L_, protected_call(L_, 0, 0));
}

}  // namespace ebpfrun::bindings

extern "C" int luaopen_ebpf_core(lua_State* L) {
  using namespace ebpfrun::bindings;
  lua_newtable(L);
  register_object_bindings(L);
  register_map_bindings(L);
  register_loop_bindings(L);
  register_agent_bindings(L);
  register_symbols_bindings(L);
  register_btf_bindings(L);
  register_kernel_bindings(L);
  lua_getfield(L, LUA_REGISTRYINDEX, "ebpfrun.options");
  lua_setfield(L, -2, "options");
  return 1;
}

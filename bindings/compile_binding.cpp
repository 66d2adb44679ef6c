// ebpf.compile and ebpf.load: BPF C (a file or inline text from a script)
// through the runtime's build pipeline into a loaded object userdata. This file
// only turns the Lua arguments into a build::BuildRequest; every step of the
// pipeline lives in runtime/build, shared with `ebpfrun compile`.
#include <algorithm>

#include <fmt/format.h>

#include "bindings/host_context.h"
#include "bindings/lua_support.h"
#include "build/build.h"
#include "common/files.h"
#include "compiler/object_cache.h"

namespace ebpfrun::bindings {
namespace {

// Reads the string values of t[field] (a string or a list of strings).
bool string_list(Call& call, int table, const char* field, std::vector<std::string>& out) {
  lua_getfield(call.L, table, field);
  bool ok = true;
  if (lua_type(call.L, -1) == LUA_TSTRING) {
    out.emplace_back(lua_tostring(call.L, -1));
  } else if (lua_istable(call.L, -1)) {
    for (int i = 1;; ++i) {
      lua_rawgeti(call.L, -1, i);
      if (lua_isnil(call.L, -1)) {
        lua_pop(call.L, 1);
        break;
      }
      if (!lua_isstring(call.L, -1))
        ok = false;
      else
        out.emplace_back(lua_tostring(call.L, -1));
      lua_pop(call.L, 1);
    }
    if (!ok) call.raise(fmt::format("ebpf.compile: '{}' must be a string or a list of strings", field));
  } else if (!lua_isnil(call.L, -1)) {
    call.raise(fmt::format("ebpf.compile: '{}' must be a string or a list of strings", field));
    ok = false;
  }
  lua_pop(call.L, 1);
  return ok;
}

// filter = { pid = 1 | {1, 2}, comm = "x", ... } into a FilterSpec.
std::string read_filter(Call& call, int table, tmpl::FilterSpec& spec) {
  lua_getfield(call.L, table, "filter");
  std::string error;
  if (lua_istable(call.L, -1)) {
    lua_pushnil(call.L);
    while (error.empty() && lua_next(call.L, -2)) {
      std::string field = lua_isstring(call.L, -2) ? lua_tostring(call.L, -2) : "?";
      auto add = [&](int index) {
        if (!lua_isstring(call.L, index)) {
          error = fmt::format("filter field '{}' takes numbers or strings", field);
          return;
        }
        if (auto added = tmpl::add_filter_value(spec, field, lua_tostring(call.L, index)); !added)
          error = added.error();
      };
      if (lua_istable(call.L, -1)) {
        for (int i = 1; error.empty(); ++i) {
          lua_rawgeti(call.L, -1, i);
          if (lua_isnil(call.L, -1)) {
            lua_pop(call.L, 1);
            break;
          }
          add(-1);
          lua_pop(call.L, 1);
        }
      } else {
        add(-1);
      }
      lua_pop(call.L, 1);
    }
    if (!error.empty()) lua_pop(call.L, 1);  // the key left by lua_next
  } else if (!lua_isnil(call.L, -1)) {
    error = "ebpf.compile: 'filter' must be a table";
  }
  lua_pop(call.L, 1);
  return error;
}

// autoload = { prog = false, ... } and optional = { "prog", ... } of the
// options table at `table` into load options.
bool read_load_options(Call& call, int table, loader::LoadOptions& options) {
  if (!lua_istable(call.L, table)) return true;
  lua_getfield(call.L, table, "autoload");
  if (lua_istable(call.L, -1)) {
    lua_pushnil(call.L);
    while (lua_next(call.L, -2)) {
      if (lua_type(call.L, -2) != LUA_TSTRING || !lua_isboolean(call.L, -1)) {
        lua_pop(call.L, 3);
        call.raise("'autoload' takes program names with true or false: autoload = { prog = false }");
        return false;
      }
      options.autoload[lua_tostring(call.L, -2)] = lua_toboolean(call.L, -1);
      lua_pop(call.L, 1);
    }
  } else if (!lua_isnil(call.L, -1)) {
    lua_pop(call.L, 1);
    call.raise("'autoload' must be a table: autoload = { prog = false }");
    return false;
  }
  lua_pop(call.L, 1);
  lua_getfield(call.L, table, "optional");
  std::vector<std::string> optional;
  bool ok = call.string_list_arg(lua_gettop(call.L), optional, "'optional' (program names)");
  lua_pop(call.L, 1);
  options.optional.insert(optional.begin(), optional.end());
  return ok;
}

// globals = { targ_pid = 123, targ_failed = true, ... } at `table` into a
// list; misuse (a table of the wrong shape) raises.
bool read_globals(Call& call, int table, const char* function, std::vector<loader::NamedGlobal>& out) {
  if (lua_isnoneornil(call.L, table)) return true;
  lua_getfield(call.L, table, "globals");
  if (lua_isnil(call.L, -1)) {
    lua_pop(call.L, 1);
    return true;
  }
  if (!lua_istable(call.L, -1)) {
    call.raise(fmt::format("{}: 'globals' must be a table of name = value", function));
    return false;
  }
  lua_pushnil(call.L);
  while (lua_next(call.L, -2)) {
    auto value = global_value(call.L, -1);
    if (lua_type(call.L, -2) != LUA_TSTRING || !value) {
      call.raise(fmt::format("{}: 'globals' must map names to numbers, booleans or strings", function));
      return false;
    }
    out.push_back({lua_tostring(call.L, -2), std::move(*value)});
    lua_pop(call.L, 1);
  }
  lua_pop(call.L, 1);
  // pairs() has no order; sorting makes the first error the same every run.
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return true;
}

// Loads an ELF into a new object userdata, or returns nil, err.
int load_elf(Call& call, std::string&& elf, const std::string& name, const loader::LoadOptions& load_options,
             const std::vector<loader::NamedGlobal>& globals) {
  HostContext& host = host_context(call.L);
  loader::OpenOptions open_options;
  open_options.pin_namespace = host.pin_namespace;
  // CO-RE objects relocate against a small cached cut of the kernel BTF
  // (loader/core_btf.h); --no-cache reads the whole kernel BTF as before.
  if (host.compile.use_cache)
    open_options.core_btf_cache_dir = compiler::ObjectCache::core_btf_dir(
        host.compile.cache_dir.empty() ? compiler::ObjectCache::default_dir() : host.compile.cache_dir);
  auto object = build::load(std::move(elf), name, open_options, load_options, globals);
  if (!object) return call.fail(object.error_info());
  auto state =
      std::make_shared<ObjectState>(std::move(object).value(), fmt::format("ebpfrun_o{}_", host.next_object++));
  host.objects.insert(state);
  push_object(call.L, std::move(state));
  return 1;
}

int compile(lua_State* L) {
  return guarded(L, [](Call& call) -> int {
    if (!lua_istable(call.L, 1)) return call.raise("ebpf.compile takes a table: { text = ... } or { file = ... }");
    HostContext& host = host_context(call.L);
    build::BuildRequest request;
    lua_getfield(call.L, 1, "text");
    lua_getfield(call.L, 1, "file");
    lua_getfield(call.L, 1, "name");
    lua_getfield(call.L, 1, "line");
    request.text = lua_isstring(call.L, -4) ? lua_tostring(call.L, -4) : "";
    request.file = lua_isstring(call.L, -3) ? lua_tostring(call.L, -3) : "";
    request.name = lua_isstring(call.L, -2) ? lua_tostring(call.L, -2) : "";
    request.first_line = lua_isnumber(call.L, -1) ? static_cast<long long>(lua_tonumber(call.L, -1)) : 0;
    lua_pop(call.L, 4);
    if (request.text.empty() == request.file.empty())
      return call.raise("ebpf.compile needs exactly one of 'text' or 'file'");
    loader::LoadOptions load_options;
    if (!read_load_options(call, 1, load_options)) return 0;
    request.options = host.compile;
    if (!string_list(call, 1, "defines", request.options.defines) ||
        !string_list(call, 1, "includes", request.options.include_dirs))
      return 0;
    if (std::string error = read_filter(call, 1, request.filter); !error.empty())
      return call.fail(make_error(ErrorKind::invalid_argument, error));
    build::merge_filter(request.filter, host.global_filter);
    std::vector<loader::NamedGlobal> globals;
    if (!read_globals(call, 1, "ebpf.compile", globals)) return 0;

    auto out = build::compile(request);
    // How objects were obtained, for the agent's self-monitoring.
    (out.stats.cache_hit || out.stats.prebuilt ? host.compile_cache_hits : host.compile_cache_misses) += 1;
    host.compile_seconds += out.stats.total_ms / 1000.0;
    if (!out.ok()) return call.fail(out.error());
    // Handed over: the object's bytes are kept once, by the loaded object.
    return load_elf(call, std::move(out.object), build::object_name(request), load_options, globals);
  });
}

int load(lua_State* L) {
  return guarded(L, [](Call& call) -> int {
    std::string path;
    if (!call.string_arg(1, path, "path")) return 0;
    loader::LoadOptions load_options;
    if (!lua_isnoneornil(call.L, 2) && !lua_istable(call.L, 2))
      return call.raise(
          "ebpf.load(path [, { globals = ..., autoload = ..., optional = ... }]): options must be a table");
    std::vector<loader::NamedGlobal> globals;
    if (!read_load_options(call, 2, load_options) || !read_globals(call, 2, "ebpf.load", globals)) return 0;
    auto elf = files::read(path);
    if (!elf) return call.fail(elf.error_info());
    return load_elf(call, std::move(elf).value(), path, load_options, globals);
  });
}

}  // namespace

void register_compile_bindings(lua_State* L) {
  lua_pushcfunction(L, compile);
  lua_setfield(L, -2, "compile");
  lua_pushcfunction(L, load);
  lua_setfield(L, -2, "load");
}

}  // namespace ebpfrun::bindings

// The interactive REPL: `ebpfrun` with no script. Lua with the `ebpf` module
// and the one-liner helpers preloaded; readline editing with persistent
// history, multi-line input, completion of Lua names and of probe names inside
// strings, and a few `:` commands. Ctrl-C at the prompt clears the line; while
// ebpf.run is running the event loop takes SIGINT, stops, and detaches what the
// run attached, and the REPL continues.
#include <readline/history.h>
#include <readline/readline.h>

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "attach/kernel_names.h"
#include "bindings/lua_host.h"
#include "bindings/lua_support.h"
#include "cli/commands.h"

namespace ebpfrun::cli {
namespace {

lua_State* g_completion_state = nullptr;

constexpr const char* kHelp = R"(ebpfrun REPL — Lua (LuaJIT) with the ebpf module loaded as `ebpf`.
  count("tracepoint/syscalls/sys_enter_openat", "comm")   one-liner: counts until Ctrl-C
  hist(probe, expr) / trace(probe, fmt, fields)           more one-liners
  obj = ebpf.compile{ text = [[ ... ]] }; obj:attach_all(); ebpf.run{ duration = 5 }
Commands:
  :help      this text
  :probes    what is attached
  :maps      the maps of the open objects
  :detach    detach and unload everything
  :quit      leave (also Ctrl-D)
Ctrl-C stops a running ebpf.run (and detaches what it attached); at the prompt it clears the line.)";

// Pretty-printing and the : commands are written in Lua: they walk Lua values.
constexpr const char* kReplLua = R"LUA(
local ebpf = require "ebpf"
local repl = {}
local function pretty(v, indent, seen)
  indent, seen = indent or "", seen or {}
  local t = type(v)
  if t == "string" then return string.format("%q", v) end
  if t == "cdata" then
    local ok, s = pcall(tostring, v)
    return ok and s or "<cdata>"
  end
  if t ~= "table" or seen[v] then return tostring(v) end
  seen[v] = true
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  if #keys == 0 then return "{}" end
  local parts, inner = {}, indent .. "  "
  for i, k in ipairs(keys) do
    if i > 50 then parts[#parts + 1] = inner .. "..."; break end
    local key = type(k) == "string" and k:match("^[%a_][%w_]*$") and k or "[" .. pretty(k) .. "]"
    parts[#parts + 1] = inner .. key .. " = " .. pretty(v[k], inner, seen)
  end
  return "{\n" .. table.concat(parts, ",\n") .. "\n" .. indent .. "}"
end
function repl.print(...)
  local n = select("#", ...)
  if n == 0 then return end
  local out = {}
  for i = 1, n do out[i] = pretty((select(i, ...))) end
  print(table.concat(out, "\t"))
end
function repl.command(name)
  if name == "probes" then
    local core = require "ebpf.core"
    local any = false
    for obj in pairs(ebpf._objects()) do
      for _, link in ipairs(obj.links) do
        local info = link:info()
        if info.attached then print(string.format("%-40s link id %d", info.spec, info.id)); any = true end
      end
    end
    if not any then print("nothing attached") end
  elseif name == "maps" then
    local any = false
    for obj in pairs(ebpf._objects()) do
      for _, m in ipairs(obj:info().maps) do
        print(string.format("%-24s %-14s max %d entries (object %s)", m.name, m.type, m.max_entries, obj:info().name))
        any = true
      end
    end
    if not any then print("no maps") end
  elseif name == "detach" then
    ebpf.close_all()
    print("detached and unloaded everything")
  else
    return false
  end
  return true
end
return repl
)LUA";

std::string history_path() {
  const char* home = std::getenv("HOME");
  return std::string(home && *home ? home : "/tmp") + "/.ebpfrun_history";
}

void on_sigint(int) {
  // At the prompt: abandon the line, like a shell.
  rl_crlf();
  rl_replace_line("", 0);
  rl_on_new_line();
  rl_redisplay();
}

// Completion: inside a string, probe names; elsewhere, Lua names (a.b.c).
std::vector<std::string> g_matches;

std::vector<std::string> probe_names() {
  static std::vector<std::string> names;
  if (!names.empty()) return names;
  auto tracefs = attach::tracefs();
  if (!tracefs) return names;
  for (const auto& category : attach::tracepoint_categories(*tracefs))
    for (const auto& name : attach::tracepoints_in(*tracefs, category))
      names.push_back("tracepoint/" + category + "/" + name);
  return names;
}

std::vector<std::string> lua_names(const std::string& prefix) {
  std::vector<std::string> out;
  lua_State* L = g_completion_state;
  size_t dot = prefix.rfind('.');
  std::string table_path = dot == std::string::npos ? "" : prefix.substr(0, dot);
  std::string leaf = dot == std::string::npos ? prefix : prefix.substr(dot + 1);
  lua_pushvalue(L, LUA_GLOBALSINDEX);
  size_t start = 0;
  while (!table_path.empty() && start <= table_path.size()) {
    size_t end = table_path.find('.', start);
    std::string part = table_path.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (!lua_istable(L, -1)) break;
    lua_getfield(L, -1, part.c_str());
    lua_remove(L, -2);
    if (end == std::string::npos) break;
    start = end + 1;
  }
  auto collect = [&](int index) {
    lua_pushnil(L);
    while (lua_next(L, index < 0 ? index - 1 : index)) {
      if (lua_type(L, -2) == LUA_TSTRING) {
        std::string key = lua_tostring(L, -2);
        if (key.rfind(leaf, 0) == 0) out.push_back((table_path.empty() ? "" : table_path + ".") + key);
      }
      lua_pop(L, 1);
    }
  };
  if (lua_istable(L, -1)) {
    collect(-1);
    // Methods of wrapped objects live in their metatable's __index.
    if (lua_getmetatable(L, -1)) {
      lua_getfield(L, -1, "__index");
      if (lua_istable(L, -1)) collect(-1);
      lua_pop(L, 2);
    }
  }
  lua_pop(L, 1);
  return out;
}

char* match_generator(const char*, int state) {
  static size_t index;
  if (state == 0) index = 0;
  if (index < g_matches.size()) return strdup(g_matches[index++].c_str());
  return nullptr;
}

char** complete(const char* text, int start, int) {
  rl_attempted_completion_over = 1;
  std::string line(rl_line_buffer, static_cast<size_t>(start));
  size_t quotes = 0;
  for (char c : line)
    if (c == '"' || c == '\'') ++quotes;
  g_matches.clear();
  if (quotes % 2 == 1) {
    for (const auto& name : probe_names())
      if (name.rfind(text, 0) == 0) g_matches.push_back(name);
  } else {
    g_matches = lua_names(text);
  }
  return rl_completion_matches(text, match_generator);
}

bool incomplete(lua_State* L, const std::string& chunk) {
  if (luaL_loadbuffer(L, chunk.data(), chunk.size(), "=stdin") == 0) {
    lua_pop(L, 1);
    return false;
  }
  std::string message = lua_tostring(L, -1);
  lua_pop(L, 1);
  return message.find("<eof>") != std::string::npos;
}

}  // namespace

int run_repl(bindings::LuaHost& host) {
  lua_State* L = host.state();
  auto loaded = host.run_string(std::string("_EBPFRUN_REPL = (function() ") + kReplLua + " end)()", "=repl");
  if (!loaded.error.empty()) {
    std::fprintf(stderr, "ebpfrun: error: %s\n", loaded.error.c_str());
    return kExitRuntimeError;
  }
  g_completion_state = L;
  rl_readline_name = "ebpfrun";
  rl_attempted_completion_function = complete;
  rl_basic_word_break_characters = const_cast<char*>(" \t\n\"'(),=[]{}+-*/<>~;");
  const std::string history = history_path();
  read_history(history.c_str());
  std::signal(SIGINT, on_sigint);
  std::printf("ebpfrun %s REPL — :help for help, Ctrl-D to leave\n", EBPFRUN_VERSION);

  std::string chunk;
  for (;;) {
    char* raw = readline(chunk.empty() ? "ebpf> " : "  ..> ");
    if (!raw) break;
    std::string line(raw);
    std::free(raw);
    if (chunk.empty() && line.empty()) continue;
    if (chunk.empty() && line[0] == ':') {
      add_history(line.c_str());
      std::string name = line.substr(1);
      if (name == "quit" || name == "q") break;
      if (name == "help") {
        std::puts(kHelp);
        continue;
      }
      auto out = host.run_string("if not _EBPFRUN_REPL.command('" + name + "') then print('unknown command :" + name +
                                     " (try :help)') end",
                                 "=repl");
      if (!out.error.empty()) std::fprintf(stderr, "error: %s\n", out.error.c_str());
      continue;
    }
    chunk += chunk.empty() ? line : "\n" + line;
    // An expression is shown; a statement is run. Multi-line input continues
    // while the chunk is an incomplete statement.
    std::string as_expression = "return " + chunk;
    bool expression = luaL_loadbuffer(L, as_expression.data(), as_expression.size(), "=stdin") == 0;
    lua_settop(L, 0);
    if (!expression && incomplete(L, chunk)) continue;
    add_history(chunk.c_str());
    std::string code = expression ? "_EBPFRUN_REPL.print(" + chunk + "\n)" : chunk;
    // The REPL keeps SIGINT while Lua runs outside ebpf.run, so that Ctrl-C
    // there does not kill the session either.
    auto out = host.run_string(code, "=stdin");
    if (!out.error.empty()) std::fprintf(stderr, "error: %s\n", out.error.c_str());
    chunk.clear();
  }
  std::puts("");
  write_history(history.c_str());
  history_truncate_file(history.c_str(), 1000);
  return kExitOk;
}

}  // namespace ebpfrun::cli

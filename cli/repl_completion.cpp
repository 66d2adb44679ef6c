// Tab completion for the REPL (see repl_completion.h).
//
// Readline's completion hooks are plain C functions without a user pointer,
// so the Lua state and the current matches live in file-scope variables.
#include "cli/repl_completion.h"

#include <readline/readline.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "attach/kernel_names.h"
#include "bindings/lua_support.h"

namespace ebpfrun::cli {
namespace {

lua_State* g_state = nullptr;  // the state whose names are completed

// Outside a string a word ends at Lua punctuation, so that `ebpf.ru` in
// `x = ebpf.ru` is one word; inside a string only at blanks and quotes,
// because probe names contain '/' and ':'.
const char* const kLuaBreaks = " \t\n\"'(),=[]{}+-*/%^#<>~;";
const char* const kStringBreaks = " \t\n\"'";

// The quote character of the string the cursor is in, or 0 outside strings.
char open_quote(int upto) {
  char quote = 0;
  for (int i = 0; i < upto && rl_line_buffer[i]; ++i) {
    char c = rl_line_buffer[i];
    if (quote && c == '\\')
      ++i;
    else if (quote && c == quote)
      quote = 0;
    else if (!quote && (c == '"' || c == '\''))
      quote = c;
  }
  return quote;
}

char* word_breaks() { return const_cast<char*>(open_quote(rl_point) ? kStringBreaks : kLuaBreaks); }

// "category/name" for every tracepoint. Read once: tracefs has thousands of
// entries, and a second Tab press must not walk them again.
const std::vector<std::string>& tracepoint_names() {
  static std::vector<std::string> names;
  static bool read = false;
  if (read) return names;
  read = true;
  auto tracefs = attach::tracefs();
  if (!tracefs) return names;
  for (const auto& category : attach::tracepoint_categories(*tracefs))
    for (const auto& name : attach::tracepoints_in(*tracefs, category)) names.push_back(category + "/" + name);
  return names;
}

// Probe specs that start with text: tracepoint names after a tracepoint kind,
// the bare event name after raw_tp/ and tp_btf/ (which take no category), and
// the kinds themselves while no '/' has been typed yet.
std::vector<std::string> probe_matches(const std::string& text) {
  static const char* const kKinds[] = {"tracepoint/", "tp/",   "raw_tp/", "tp_btf/",    "uprobe/",
                                       "uretprobe/",  "usdt/", "kprobe/", "perf_event/"};
  std::vector<std::string> out;
  for (const std::string kind : {"tracepoint/", "tp/"})
    if (text.rfind(kind, 0) == 0)
      for (const auto& name : tracepoint_names())
        if ((kind + name).rfind(text, 0) == 0) out.push_back(kind + name);
  for (const std::string kind : {"raw_tp/", "tp_btf/"})
    if (text.rfind(kind, 0) == 0)
      for (const auto& name : tracepoint_names()) {
        std::string full = kind + name.substr(name.find('/') + 1);
        if (full.rfind(text, 0) == 0 && std::find(out.begin(), out.end(), full) == out.end()) out.push_back(full);
      }
  if (text.find('/') == std::string::npos)
    for (const char* kind : kKinds)
      if (std::string(kind).rfind(text, 0) == 0) out.push_back(kind);
  return out;
}

// The probe of the one-liner call whose later argument the cursor is in:
// PROBE for `count("PROBE", "co` or `count("PROBE", {"comm", "us`. Scans the
// line up to the word being completed, keeping for each open '(' its first
// argument when that is a string literal, and whether a ',' followed it.
std::optional<std::string> oneliner_probe(int upto) {
  struct Call {
    std::string first;
    bool first_is_string = false;
    bool past_first = false;
    bool any_token = false;
  };
  std::vector<Call> calls;
  char quote = 0;
  std::string literal;
  for (int i = 0; i < upto && rl_line_buffer[i]; ++i) {
    char c = rl_line_buffer[i];
    if (quote) {
      if (c == '\\' && rl_line_buffer[i + 1]) {
        literal += rl_line_buffer[++i];
      } else if (c == quote) {
        quote = 0;
        if (!calls.empty() && !calls.back().past_first && !calls.back().any_token) {
          calls.back().first = literal;
          calls.back().first_is_string = true;
        }
        if (!calls.empty()) calls.back().any_token = true;
      } else {
        literal += c;
      }
    } else if (c == '"' || c == '\'') {
      quote = c;
      literal.clear();
    } else if (c == '(') {
      if (!calls.empty()) calls.back().any_token = true;
      calls.push_back({});
    } else if (c == ')') {
      if (!calls.empty()) calls.pop_back();
    } else if (c == ',') {
      if (!calls.empty()) calls.back().past_first = true;
    } else if (c != ' ' && c != '\t' && !calls.empty() && !calls.back().past_first) {
      calls.back().any_token = true;
    }
  }
  if (!quote || calls.empty() || !calls.back().first_is_string || !calls.back().past_first) return std::nullopt;
  return calls.back().first;
}

// The fields a one-liner can read at probe that start with text, from
// ebpf.repl.field_names (which reads the probe's format file; it runs no
// user code).
std::vector<std::string> field_matches(const std::string& probe, const std::string& text) {
  lua_State* L = g_state;
  std::vector<std::string> out;
  if (!lua_checkstack(L, 8)) return out;
  int top = lua_gettop(L);
  lua_getglobal(L, "require");
  lua_pushstring(L, "ebpf.repl");
  if (lua_pcall(L, 1, 1, 0) == 0 && lua_istable(L, -1)) {
    lua_getfield(L, -1, "field_names");
    lua_pushlstring(L, probe.data(), probe.size());
    lua_pushlstring(L, text.data(), text.size());  // inside a path, the members of its struct
    if (lua_pcall(L, 2, 1, 0) == 0 && lua_istable(L, -1)) {
      for (int i = 1;; ++i) {
        lua_rawgeti(L, -1, i);
        if (!lua_isstring(L, -1)) break;
        std::string name = lua_tostring(L, -1);
        if (name.rfind(text, 0) == 0) out.push_back(name);
        lua_pop(L, 1);
      }
    }
  }
  lua_settop(L, top);
  return out;
}

// Replaces the value on top of the stack by its field `key` (raw access, then
// the __index table of its metatable: completion must never run Lua code).
void raw_field(lua_State* L, const std::string& key) {
  lua_pushlstring(L, key.data(), key.size());
  if (lua_istable(L, -2)) {
    lua_pushvalue(L, -1);
    lua_rawget(L, -3);
    if (!lua_isnil(L, -1)) {
      lua_replace(L, -3);
      lua_pop(L, 1);
      return;
    }
    lua_pop(L, 1);
  }
  if (lua_getmetatable(L, -2)) {
    lua_getfield(L, -1, "__index");  // a metatable field: plain read
    if (lua_istable(L, -1)) {
      lua_pushvalue(L, -3);
      lua_rawget(L, -2);
      lua_replace(L, -5);
      lua_pop(L, 3);
      return;
    }
    lua_pop(L, 2);
  }
  lua_pop(L, 2);
  lua_pushnil(L);
}

// Adds prefix..key for the string keys of the table at index that start with
// leaf. Metamethods ("__...") are internals nobody types, and after ':' only
// functions make sense.
void collect_keys(lua_State* L, int index, const std::string& prefix, const std::string& leaf, bool methods,
                  std::vector<std::string>& out) {
  lua_pushnil(L);
  while (lua_next(L, index)) {
    if (lua_type(L, -2) == LUA_TSTRING) {
      std::string key = lua_tostring(L, -2);
      bool wanted = key.rfind(leaf, 0) == 0 && key.rfind("__", 0) != 0 && (!methods || lua_isfunction(L, -1));
      if (wanted && std::find(out.begin(), out.end(), prefix + key) == out.end()) out.push_back(prefix + key);
    }
    lua_pop(L, 1);
  }
}

// Completes a dotted Lua name: walks the path before the last '.' or ':' from
// the globals, then lists the keys of what it reaches (and of its metatable's
// __index, where wrapped objects keep their methods).
std::vector<std::string> lua_matches(const std::string& text) {
  lua_State* L = g_state;
  std::vector<std::string> out;
  if (!lua_checkstack(L, 16)) return out;
  size_t sep = text.find_last_of(".:");
  std::string path = sep == std::string::npos ? "" : text.substr(0, sep);
  std::string leaf = sep == std::string::npos ? text : text.substr(sep + 1);
  std::string prefix = sep == std::string::npos ? "" : text.substr(0, sep + 1);
  bool methods = sep != std::string::npos && text[sep] == ':';
  if (path.find(':') != std::string::npos || (sep != std::string::npos && path.empty())) return out;
  int top = lua_gettop(L);
  lua_pushvalue(L, LUA_GLOBALSINDEX);
  for (size_t start = 0; !path.empty() && !lua_isnil(L, -1);) {
    size_t end = path.find('.', start);
    raw_field(L, path.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  if (lua_istable(L, -1)) collect_keys(L, lua_gettop(L), prefix, leaf, methods, out);
  if (!lua_isnil(L, -1) && lua_getmetatable(L, -1)) {  // methods of wrapped objects
    lua_getfield(L, -1, "__index");
    if (lua_istable(L, -1)) collect_keys(L, lua_gettop(L), prefix, leaf, methods, out);
  }
  if (out.size() == 1) {  // a unique function gets its "(" (a unique table nothing)
    lua_settop(L, top);
    lua_pushvalue(L, LUA_GLOBALSINDEX);
    for (size_t start = 0;;) {
      size_t end = out[0].find_first_of(".:", start);
      raw_field(L, out[0].substr(start, end == std::string::npos ? std::string::npos : end - start));
      if (end == std::string::npos) break;
      start = end + 1;
    }
    rl_completion_append_character = lua_isfunction(L, -1) ? '(' : '\0';
  }
  lua_settop(L, top);
  return out;
}

// Readline asks for the matches one at a time and frees each; complete()
// computes them all at once, and this hands them out as malloc'd copies.
std::vector<std::string> g_matches;

char* next_match(const char*, int state) {
  static size_t index;
  if (state == 0) index = 0;
  return index < g_matches.size() ? strdup(g_matches[index++].c_str()) : nullptr;
}

char** complete(const char* text, int start, int) {
  rl_attempted_completion_over = 1;  // never fall back to file names
  char quote = open_quote(start);
  if (quote) {
    auto probe = oneliner_probe(start);
    g_matches = probe ? field_matches(*probe, text) : probe_matches(text);
    // A complete probe name closes its string; a kind ("uprobe/") still
    // needs its target, so the cursor stays inside.
    bool complete_name = g_matches.size() == 1 && g_matches[0].back() != '/';
    rl_completion_append_character = complete_name ? quote : '\0';
  } else {
    rl_completion_append_character = '\0';
    g_matches = lua_matches(text);
  }
  return rl_completion_matches(text, next_match);
}

}  // namespace

void install_repl_completion(lua_State* L) {
  g_state = L;
  rl_attempted_completion_function = complete;
  rl_completion_word_break_hook = word_breaks;
  rl_basic_word_break_characters = const_cast<char*>(kLuaBreaks);
}

}  // namespace ebpfrun::cli

// Symbolization for Lua: stack ids of a BPF stack-trace map, or arrays of
// addresses, to lists of frames (runtime/symbols/).
//
//   obj:stack(map_name, id [, pid])  → frames | nil, err
//   core.symbolize(addrs [, pid])    → frames | nil, err
//
// Without a pid the addresses are kernel addresses; with one they belong to
// that process. Each frame is a table { addr = "0x...", symbol, offset,
// module, file, line, inlined }; addr is a hex string because a 64-bit kernel
// address does not fit a Lua number. The list has the "ebpf.frames"
// metatable (stdlib/ebpf/stacks.lua gives it __tostring). Addresses come in as
// numbers, uint64_t cdata or hex strings.
//
// One Symbolizer per Lua state, kept as a userdata in the registry, so its
// bounded process cache lives as long as the script and is freed with it.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <fmt/format.h>

#include <cstdlib>
#include <vector>

#include "bindings/host_context.h"
#include "bindings/lua_support.h"
#include "symbols/symbolizer.h"

namespace ebpfrun::bindings {
namespace {

constexpr const char* kSymbolizerType = "ebpf.symbolizer";
constexpr const char* kSymbolizerKey = "ebpfrun.symbolizer";
constexpr const char* kFramesType = "ebpf.frames";
// PERF_MAX_STACK_DEPTH: the kernel's limit, and the value size of a
// stack-trace map at most.
constexpr size_t kMaxDepth = 127;
// LuaJIT's lua_type() for cdata (LUA_TCDATA is not in its public headers).
constexpr int kLuaTypeCdata = 10;

struct SymbolizerBox {
  symbols::Symbolizer symbolizer;
};

int symbolizer_gc(lua_State* L) {
  auto* box = static_cast<SymbolizerBox*>(luaL_checkudata(L, 1, kSymbolizerType));
  box->~SymbolizerBox();
  return 0;
}

symbols::Symbolizer& state_symbolizer(lua_State* L) {
  lua_getfield(L, LUA_REGISTRYINDEX, kSymbolizerKey);
  auto* box = static_cast<SymbolizerBox*>(lua_touserdata(L, -1));
  lua_pop(L, 1);
  if (!box) {
    box = push_udata<SymbolizerBox>(L, kSymbolizerType);
    lua_setfield(L, LUA_REGISTRYINDEX, kSymbolizerKey);
  }
  return box->symbolizer;
}

// One address from the Lua value at `index`; false when it is none.
bool read_address(lua_State* L, int index, uint64_t& out) {
  int type = lua_type(L, index);
  if (type == LUA_TNUMBER) {
    out = static_cast<uint64_t>(lua_tonumber(L, index));
    return true;
  }
  if (type == LUA_TSTRING) {
    const char* text = lua_tostring(L, index);
    char* end = nullptr;
    out = std::strtoull(text, &end, 0);
    return end != text && *end == '\0';
  }
  if (type == kLuaTypeCdata) {
    // A uint64_t/int64_t cdata: lua_topointer gives its payload.
    const void* payload = lua_topointer(L, index);
    if (!payload) return false;
    out = *static_cast<const uint64_t*>(payload);
    return true;
  }
  return false;
}

void push_frames(lua_State* L, const std::vector<symbols::Frame>& frames) {
  lua_createtable(L, static_cast<int>(frames.size()), 0);
  int n = 0;
  for (const auto& frame : frames) {
    lua_createtable(L, 0, 7);
    set_string(L, "addr", fmt::format("{:#x}", frame.addr));
    set_string(L, "symbol", frame.symbol);
    set_number(L, "offset", static_cast<double>(frame.offset));
    set_string(L, "module", frame.module);
    if (!frame.file.empty()) set_string(L, "file", frame.file);
    if (frame.line > 0) set_number(L, "line", frame.line);
    set_bool(L, "inlined", frame.inlined);
    lua_rawseti(L, -2, ++n);
  }
  luaL_getmetatable(L, kFramesType);
  lua_setmetatable(L, -2);
}

// tostring(frames): one line per frame, outermost last, as perf and gdb print:
//   #0 0xffffffff81234567 do_sys_openat2+0x15 [kernel]
//   #1 0x0000555555555189 spin_here+0x9 (target.c:22) [/usr/bin/target] (inlined)
int frames_tostring(lua_State* L) {
  std::string text;
  size_t count = lua_objlen(L, 1);
  for (size_t i = 1; i <= count; ++i) {
    lua_rawgeti(L, 1, static_cast<int>(i));
    auto field = [&](const char* key) {
      lua_getfield(L, -1, key);
      std::string value = lua_isnil(L, -1) ? "" : lua_tostring(L, -1);
      lua_pop(L, 1);
      return value;
    };
    std::string addr = field("addr"), symbol = field("symbol"), offset = field("offset"), module = field("module");
    std::string file = field("file"), line = field("line");
    lua_getfield(L, -1, "inlined");
    bool inlined = lua_toboolean(L, -1);
    lua_pop(L, 2);
    text += fmt::format("#{} {} {}", i - 1, addr, symbol);
    if (!offset.empty() && offset != "0") text += fmt::format("+{:#x}", std::strtoull(offset.c_str(), nullptr, 10));
    if (!file.empty()) text += fmt::format(" ({}:{})", file, line);
    if (!module.empty()) text += fmt::format(" [{}]", module);
    if (inlined) text += " (inlined)";
    text += "\n";
  }
  lua_pushlstring(L, text.data(), text.size());
  return 1;
}

// Symbolizes addrs for pid (kernel when pid is 0) and pushes the frames.
int symbolize_and_push(Call& call, const std::vector<uint64_t>& addrs, long long pid) {
  auto& symbolizer = state_symbolizer(call.L);
  if (pid > 0) {
    push_frames(call.L, symbolizer.user(static_cast<pid_t>(pid), addrs));
    return 1;
  }
  auto frames = symbolizer.kernel(addrs);
  if (!frames) return call.fail(frames.error_info());
  push_frames(call.L, *frames);
  return 1;
}

bool optional_pid(Call& call, int index, long long& pid) {
  pid = 0;
  if (lua_isnoneornil(call.L, index)) return true;
  if (!call.integer_arg(index, pid, "pid")) return false;
  if (pid <= 0) {
    call.raise("pid must be a positive integer (omit it for kernel addresses)");
    return false;
  }
  return true;
}

// core.symbolize(addrs [, pid])
int symbolize(lua_State* L) {
  return guarded(L, [](Call& call) -> int {
    if (!lua_istable(call.L, 1)) return call.raise("bad argument #1 (addresses): expected a table of addresses");
    long long pid = 0;
    if (!optional_pid(call, 2, pid)) return 0;
    std::vector<uint64_t> addrs;
    size_t count = lua_objlen(call.L, 1);
    for (size_t i = 1; i <= count; ++i) {
      lua_rawgeti(call.L, 1, static_cast<int>(i));
      uint64_t addr = 0;
      bool ok = read_address(call.L, -1, addr);
      lua_pop(call.L, 1);
      if (!ok) return call.raise(fmt::format("bad address #{}: expected a number, uint64_t or hex string", i));
      addrs.push_back(addr);
    }
    return symbolize_and_push(call, addrs, pid);
  });
}

// obj:stack(map_name, id [, pid]): the stack `id` of a BPF_MAP_TYPE_STACK_TRACE map.
int object_stack(lua_State* L) {
  return guarded(L, [](Call& call) -> int {
    auto* box = static_cast<ObjectBox*>(call.udata_arg(1, kObjectType, "object"));
    std::string name;
    long long id = 0, pid = 0;
    if (!box || !call.string_arg(2, name, "map name") || !call.integer_arg(3, id, "stack id")) return 0;
    if (!optional_pid(call, 4, pid)) return 0;
    if (!box->state || !box->state->object.is_open()) return call.raise("attempt to use a closed BPF object");
    bpf_map* map = box->state->object.find_map(name);
    if (!map) return call.raise(fmt::format("no map named '{}' in this object", name));
    if (bpf_map__type(map) != BPF_MAP_TYPE_STACK_TRACE)
      return call.raise(fmt::format("map '{}' is not a stack-trace map", name));
    if (id < 0)
      return call.fail(make_error(ErrorKind::not_found,
                                  fmt::format("stack id {} is an error from bpf_get_stackid ({})", id, -id), -id));
    size_t depth = bpf_map__value_size(map) / sizeof(uint64_t);
    std::vector<uint64_t> addrs(depth > kMaxDepth ? kMaxDepth : depth);
    auto key = static_cast<uint32_t>(id);
    if (bpf_map_lookup_elem(bpf_map__fd(map), &key, addrs.data()) != 0)
      return call.fail(make_errno_error(errno, fmt::format("stack id {} is not in map '{}'", id, name)));
    // The kernel ends a stack shorter than the map's depth with zeros.
    while (!addrs.empty() && addrs.back() == 0) addrs.pop_back();
    return symbolize_and_push(call, addrs, pid);
  });
}

}  // namespace

void register_symbols_bindings(lua_State* L) {
  luaL_newmetatable(L, kSymbolizerType);
  lua_pushcfunction(L, symbolizer_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
  luaL_newmetatable(L, kFramesType);
  lua_pushcfunction(L, frames_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pop(L, 1);

  luaL_getmetatable(L, kObjectType);
  lua_getfield(L, -1, "__index");
  lua_pushcfunction(L, object_stack);
  lua_setfield(L, -2, "stack");
  lua_pop(L, 2);

  lua_pushcfunction(L, symbolize);
  lua_setfield(L, -2, "symbolize");
}

}  // namespace ebpfrun::bindings

// What the agent's Lua side (stdlib/ebpf/agent.lua) needs from C++: publishing
// snapshots of metric families to the store the HTTP threads render from,
// collector states, the Prometheus name lint and filter validation for
// `--check` (the very checks the runtime applies, without loading anything),
// and per-object statistics (map entry counts, program run counters) read on
// the fds the object holds. Nothing here calls back into Lua: the store is
// the only thing shared with other threads, and it takes plain C++ values.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <vector>

#include <fmt/format.h>

#include "bindings/host_context.h"
#include "bindings/lua_support.h"
#include "maps/map.h"
#include "metrics/naming.h"
#include "metrics/store.h"

namespace ebpfrun::bindings {
namespace {

metrics::SnapshotStore* store_of(Call& call) {
  metrics::SnapshotStore* store = host_context(call.L).metrics;
  if (!store) call.raise("no metrics store: publishing works only under `ebpfrun agent`");
  return store;
}

// Array part of the table at `index` as strings (numbers converted).
bool read_strings(Call& call, int index, std::vector<std::string>& out, const char* what) {
  if (!lua_istable(call.L, index)) {
    call.raise(fmt::format("{} must be a list of strings", what));
    return false;
  }
  int n = static_cast<int>(lua_objlen(call.L, index));
  out.reserve(static_cast<size_t>(n));
  for (int i = 1; i <= n; ++i) {
    lua_rawgeti(call.L, index, i);
    size_t len = 0;
    const char* s = lua_isstring(call.L, -1) ? lua_tolstring(call.L, -1, &len) : nullptr;
    if (s) out.emplace_back(s, len);
    lua_pop(call.L, 1);
    if (!s) {
      call.raise(fmt::format("{}: item {} is not a string", what, i));
      return false;
    }
  }
  return true;
}

std::string string_field(lua_State* L, int index, const char* key) {
  lua_getfield(L, index, key);
  size_t len = 0;
  const char* s = lua_isstring(L, -1) ? lua_tolstring(L, -1, &len) : nullptr;
  std::string out = s ? std::string(s, len) : std::string();
  lua_pop(L, 1);
  return out;
}

double number_field(lua_State* L, int index, const char* key) {
  lua_getfield(L, index, key);
  double v = lua_isnumber(L, -1) ? lua_tonumber(L, -1) : 0;
  lua_pop(L, 1);
  return v;
}

// One sample table { "v1", "v2", ..., value = n } or, for histograms,
// { "v1", ..., buckets = { {le, cumulative}, ... }, sum = s, count = c }.
bool read_sample(Call& call, int index, metrics::Family& family) {
  lua_State* L = call.L;
  std::vector<std::string> values;
  if (!read_strings(call, index, values, "sample label values")) return false;
  if (values.size() != family.label_names.size()) {
    call.raise(fmt::format("{}: a sample has {} label values for {} labels", family.name, values.size(),
                           family.label_names.size()));
    return false;
  }
  if (family.type != metrics::Type::histogram) {
    family.samples.push_back({std::move(values), number_field(L, index, "value")});
    return true;
  }
  metrics::HistogramSample h;
  h.label_values = std::move(values);
  h.sum = number_field(L, index, "sum");
  h.count = number_field(L, index, "count");
  lua_getfield(L, index, "buckets");
  if (lua_istable(L, -1)) {
    int n = static_cast<int>(lua_objlen(L, -1));
    h.buckets.reserve(static_cast<size_t>(n));
    for (int i = 1; i <= n; ++i) {
      lua_rawgeti(L, -1, i);
      lua_rawgeti(L, -1, 1);
      lua_rawgeti(L, -2, 2);
      h.buckets.emplace_back(lua_tonumber(L, -2), lua_tonumber(L, -1));
      lua_pop(L, 3);
    }
  }
  lua_pop(L, 1);
  family.histograms.push_back(std::move(h));
  return true;
}

// metrics_publish(source, { {name=, help=, type=, labels={...}, samples={...}}, ... })
int metrics_publish(lua_State* L) {
  return guarded(L, [](Call& call) -> int {
    std::string source;
    if (!call.string_arg(1, source, "source name")) return 0;
    if (!lua_istable(call.L, 2)) return call.raise("metrics_publish: families must be a table");
    metrics::SnapshotStore* store = store_of(call);
    if (!store) return 0;
    metrics::Snapshot families;
    int n = static_cast<int>(lua_objlen(call.L, 2));
    families.reserve(static_cast<size_t>(n));
    for (int i = 1; i <= n; ++i) {
      lua_rawgeti(call.L, 2, i);
      int f = lua_gettop(call.L);
      metrics::Family family;
      family.name = string_field(call.L, f, "name");
      family.help = string_field(call.L, f, "help");
      if (!metrics::parse_type(string_field(call.L, f, "type"), family.type)) {
        lua_pop(call.L, 1);
        return call.raise(fmt::format("{}: type must be counter, gauge or histogram", family.name));
      }
      lua_getfield(call.L, f, "labels");
      bool ok = read_strings(call, lua_gettop(call.L), family.label_names, "labels");
      lua_pop(call.L, 1);
      if (ok) {
        lua_getfield(call.L, f, "samples");
        int s = lua_gettop(call.L);
        if (lua_istable(call.L, s)) {
          int count = static_cast<int>(lua_objlen(call.L, s));
          for (int j = 1; ok && j <= count; ++j) {
            lua_rawgeti(call.L, s, j);
            ok = read_sample(call, lua_gettop(call.L), family);
            lua_pop(call.L, 1);
          }
        }
        lua_pop(call.L, 1);
      }
      lua_pop(call.L, 1);
      if (!ok) return 0;
      families.push_back(std::move(family));
    }
    store->publish(source, std::move(families));
    return 0;
  });
}

int metrics_remove(lua_State* L) {
  return guarded(L, [](Call& call) -> int {
    std::string source;
    if (!call.string_arg(1, source, "source name")) return 0;
    if (metrics::SnapshotStore* store = store_of(call)) {
      store->remove(source);
      store->remove_collector(source);
    }
    return 0;
  });
}

// collector_state{ name=, up=, reason=, interval=, collect_seconds=, last_success= }
int collector_state(lua_State* L) {
  return guarded(L, [](Call& call) -> int {
    if (!lua_istable(call.L, 1)) return call.raise("collector_state takes a table");
    metrics::SnapshotStore* store = store_of(call);
    if (!store) return 0;
    metrics::CollectorState state;
    state.name = string_field(call.L, 1, "name");
    lua_getfield(call.L, 1, "up");
    state.up = lua_toboolean(call.L, -1) != 0;
    lua_pop(call.L, 1);
    state.reason = string_field(call.L, 1, "reason");
    state.interval = number_field(call.L, 1, "interval");
    state.collect_seconds = number_field(call.L, 1, "collect_seconds");
    state.last_success = number_field(call.L, 1, "last_success");
    store->set_collector(std::move(state));
    return 0;
  });
}

int agent_started(lua_State* L) {
  return guarded(L, [](Call& call) -> int {
    if (metrics::SnapshotStore* store = store_of(call)) store->set_started(lua_toboolean(call.L, 1) != 0);
    return 0;
  });
}

// lint_metric(name, type, help, labels) → { "problem", ... }
int lint_metric(lua_State* L) {
  return guarded(L, [](Call& call) -> int {
    std::string name, type_text, help;
    if (!call.string_arg(1, name, "metric name") || !call.string_arg(2, type_text, "metric type") ||
        !call.optional_string_arg(3, help, "help"))
      return 0;
    std::vector<std::string> labels;
    if (!lua_isnil(call.L, 4) && !read_strings(call, 4, labels, "labels")) return 0;
    std::vector<std::string> problems;
    metrics::Type type{};
    if (!metrics::parse_type(type_text, type))
      problems.push_back(fmt::format("{}: type '{}' is not counter, gauge or histogram", name, type_text));
    else
      problems = metrics::lint(name, type, help, labels);
    lua_createtable(call.L, static_cast<int>(problems.size()), 0);
    for (size_t i = 0; i < problems.size(); ++i) {
      lua_pushlstring(call.L, problems[i].data(), problems[i].size());
      lua_rawseti(call.L, -2, static_cast<int>(i + 1));
    }
    return 1;
  });
}

// check_filter(field, value) → true | nil, err: the runtime's own filter parser.
int check_filter(lua_State* L) {
  return guarded(L, [](Call& call) -> int {
    std::string field, value;
    if (!call.string_arg(1, field, "filter field") || !call.string_arg(2, value, "filter value")) return 0;
    tmpl::FilterSpec spec;
    if (auto added = tmpl::add_filter_value(spec, field, value); !added) return call.fail(added.error());
    lua_pushboolean(call.L, 1);
    return 1;
  });
}

bool counts_entries(const std::string& type) { return type.find("hash") != std::string::npos; }

// object_stats(obj) → { maps = {{name=, type=, entries=, max_entries=}}, programs = {{name=, id=, run_count=,
// run_seconds=}} }
int object_stats(lua_State* L) {
  return guarded(L, [](Call& call) -> int {
    auto* box = static_cast<ObjectBox*>(call.udata_arg(1, kObjectType, "object"));
    if (!box) return 0;
    if (!box->state || !box->state->object.is_open()) return call.raise("attempt to use a closed BPF object");
    const loader::Object& object = box->state->object;
    lua_createtable(call.L, 0, 2);
    lua_newtable(call.L);
    int i = 1;
    for (const auto& m : object.maps()) {
      if (m.fd < 0 || m.name.find('.') != std::string::npos) continue;  // .rodata, .bss: not tables
      lua_createtable(call.L, 0, 4);
      set_string(call.L, "name", m.name);
      set_string(call.L, "type", m.type);
      set_number(call.L, "max_entries", m.max_entries);
      if (counts_entries(m.type)) {
        // A map that cannot be counted (it should not happen for a map we
        // hold) is left without entries rather than failing the collection.
        auto map = maps::Map::from_object_map(object.find_map(m.name), bpf_object__btf(object.raw()));
        if (map)
          if (auto count = map->count()) set_number(call.L, "entries", *count);
      } else if (m.type.find("array") != std::string::npos && m.type.find("perf") == std::string::npos)
        set_number(call.L, "entries", m.max_entries);
      lua_rawseti(call.L, -2, i++);
    }
    lua_setfield(call.L, -2, "maps");
    lua_newtable(call.L);
    i = 1;
    for (const auto& p : object.programs()) {
      if (p.fd < 0) continue;
      bpf_prog_info info{};
      uint32_t size = sizeof(info);
      if (::bpf_obj_get_info_by_fd(p.fd, &info, &size) != 0) continue;
      lua_createtable(call.L, 0, 4);
      set_string(call.L, "name", p.name);
      set_number(call.L, "id", p.id);
      set_number(call.L, "run_count", static_cast<double>(info.run_cnt));
      set_number(call.L, "run_seconds", static_cast<double>(info.run_time_ns) / 1e9);
      lua_rawseti(call.L, -2, i++);
    }
    lua_setfield(call.L, -2, "programs");
    return 1;
  });
}

// compile_stats() → { cache_hits =, cache_misses =, seconds = }
int compile_stats(lua_State* L) {
  HostContext& host = host_context(L);
  lua_createtable(L, 0, 3);
  set_number(L, "cache_hits", host.compile_cache_hits);
  set_number(L, "cache_misses", host.compile_cache_misses);
  set_number(L, "seconds", host.compile_seconds);
  return 1;
}

}  // namespace

void register_agent_bindings(lua_State* L) {
  static const luaL_Reg functions[] = {
      {"metrics_publish", metrics_publish}, {"metrics_remove", metrics_remove}, {"collector_state", collector_state},
      {"agent_started", agent_started},     {"lint_metric", lint_metric},       {"check_filter", check_filter},
      {"object_stats", object_stats},       {"compile_stats", compile_stats},   {nullptr, nullptr}};
  luaL_register(L, nullptr, functions);
}

}  // namespace ebpfrun::bindings

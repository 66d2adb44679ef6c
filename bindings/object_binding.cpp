// ebpf.object and ebpf.link userdata: compile/load, attach, detach, close.
#include <bpf/libbpf.h>
#include <unistd.h>

#include <regex>
#include <set>

#include <fmt/format.h>

#include "attach/object_links.h"
#include "bindings/host_context.h"
#include "bindings/lua_support.h"
#include "common/files.h"
#include "common/log.h"

namespace ebpfrun::bindings {
namespace {

struct LinkBox {
  std::shared_ptr<ObjectState> owner;
  attach::Link* link = nullptr;  // owned by owner->object; valid while it is open
  std::string spec;
};

ObjectState* open_state(Call& call, int index) {
  auto* box = static_cast<ObjectBox*>(call.udata_arg(index, kObjectType, "object"));
  if (!box) return nullptr;
  if (!box->state || !box->state->object.is_open()) {
    call.raise("attempt to use a closed BPF object");
    return nullptr;
  }
  return box->state.get();
}

const struct btf* object_btf(const ObjectState& state) { return bpf_object__btf(state.object.raw()); }

std::string no_btf_message(const ObjectState& state) {
  return fmt::format("BPF object {} has no BTF, so its types are unknown", state.object.name());
}

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

// Clang's BTF holds only types reachable from globals, maps and function
// signatures, so an event struct used only through a ring-buffer pointer would
// be missing and obj:ringbuf(name, "struct event") could not type it. A static
// pointer per struct/union/enum defined in the source, in a section libbpf
// skips, puts each of them into BTF at no cost to the loaded program.
// Appended at the end so that no line moves.
void add_type_anchors(std::string& source) {
  static const std::regex definition(R"(\b(struct|union|enum)\s+([A-Za-z_]\w*)\s*\{)");
  std::set<std::string> seen;
  std::string anchors;
  for (auto it = std::sregex_iterator(source.begin(), source.end(), definition); it != std::sregex_iterator(); ++it) {
    std::string type = (*it)[1].str() + " " + (*it)[2].str();
    if (!seen.insert(type).second) continue;
    anchors += fmt::format("static {} *__ebpfrun_type_{}_{} __attribute__((section(\".ebpfrun.types\"), used));\n",
                           type, (*it)[1].str(), (*it)[2].str());
  }
  if (!anchors.empty()) source += "\n" + anchors;
}

void merge(tmpl::FilterSpec& into, const tmpl::FilterSpec& from) {
  auto add = [](auto& a, const auto& b) {
    for (const auto& v : b)
      if (std::find(a.begin(), a.end(), v) == a.end()) a.push_back(v);
  };
  add(into.pids, from.pids);
  add(into.tids, from.tids);
  add(into.comms, from.comms);
  add(into.comm_prefixes, from.comm_prefixes);
  add(into.uids, from.uids);
  add(into.cgroup_ids, from.cgroup_ids);
}

// Loads an ELF into a new object userdata, or returns nil, err.
int load_elf(Call& call, const std::string& elf, const std::string& name) {
  HostContext& host = host_context(call.L);
  loader::OpenOptions open_options;
  open_options.pin_namespace = host.pin_namespace;
  auto object = loader::Object::open(elf, name, open_options);
  if (!object) return call.fail(object.error());
  if (auto loaded = object->load(); !loaded) return call.fail(loaded.error());
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
    lua_getfield(call.L, 1, "text");
    lua_getfield(call.L, 1, "file");
    lua_getfield(call.L, 1, "name");
    lua_getfield(call.L, 1, "line");
    std::string text = lua_isstring(call.L, -4) ? lua_tostring(call.L, -4) : "";
    std::string file = lua_isstring(call.L, -3) ? lua_tostring(call.L, -3) : "";
    std::string name = lua_isstring(call.L, -2) ? lua_tostring(call.L, -2) : "";
    long long line = lua_isnumber(call.L, -1) ? static_cast<long long>(lua_tonumber(call.L, -1)) : 0;
    lua_pop(call.L, 4);
    if (text.empty() == file.empty()) return call.raise("ebpf.compile needs exactly one of 'text' or 'file'");
    compiler::CompileOptions options = host.compile;
    if (!string_list(call, 1, "defines", options.defines) || !string_list(call, 1, "includes", options.include_dirs))
      return 0;
    tmpl::FilterSpec spec;
    if (std::string error = read_filter(call, 1, spec); !error.empty()) return call.fail(error);
    merge(spec, host.global_filter);

    std::string path = file;
    std::string source;
    if (!file.empty()) {
      auto read = files::read(file);
      if (!read) return call.fail(read.error());
      source = std::move(*read);
    } else {
      source = text;
      path = name.empty() ? "inline.bpf.c" : name;
    }
    auto filtered = tmpl::apply_filter(source, spec, file.empty() ? (name.empty() ? "inline C" : name) : file);
    if (!filtered) return call.fail(filtered.error());
    source = std::move(*filtered);
    if (file.empty() && !name.empty() && line > 1) {
      // Inline C in a Lua file: pad it so that C line numbers are the Lua
      // file's, and compile it under the Lua file's name. Diagnostics, BTF line
      // info and the verifier's quoted source lines then all point at the Lua
      // file consistently (a #line directive would renumber the lines but the
      // verifier would quote the wrong text).
      source.insert(0, std::string(static_cast<size_t>(line - 1), '\n'));
    }
    add_type_anchors(source);
    auto out = compiler::compile(source, path, options);
    if (!out.ok()) return call.fail(out.error_message());
    // -v: how the object was obtained and how long it took.
    const auto& s = out.stats;
    (s.cache_hit ? host.compile_cache_hits : host.compile_cache_misses) += 1;
    host.compile_seconds += s.total_ms / 1000.0;
    log::debug("compiled {} in {:.1f} ms ({}{}{})", path, s.total_ms,
               s.cache_hit ? "object cache hit" : (options.use_cache ? "compiled" : "compiled, cache disabled"),
               s.pch_built ? ", built precompiled header" : "",
               s.pch_used && !s.cache_hit ? ", used precompiled header" : "");
    std::string object_name = file.empty() ? (name.empty() ? "inline" : name) : file;
    return load_elf(call, out.object, object_name);
  });
}

int load(lua_State* L) {
  return guarded(L, [](Call& call) -> int {
    std::string path;
    if (!call.string_arg(1, path, "path")) return 0;
    auto elf = files::read(path);
    if (!elf) return call.fail(elf.error());
    return load_elf(call, *elf, path);
  });
}

void push_link(lua_State* L, const std::shared_ptr<ObjectState>& owner, attach::Link* link) {
  push_udata<LinkBox>(L, kLinkType, LinkBox{owner, link, link->spec()});
}

int object_attach(lua_State* L) {
  return guarded(L, [](Call& call) -> int {
    auto* box = static_cast<ObjectBox*>(call.udata_arg(1, kObjectType, "object"));
    ObjectState* state = box ? open_state(call, 1) : nullptr;
    std::string program, spec;
    if (!state || !call.string_arg(2, program, "program name") || !call.optional_string_arg(3, spec, "spec")) return 0;
    attach::AttachOptions options;
    if (lua_isnumber(call.L, 4)) options.pid = static_cast<int>(lua_tonumber(call.L, 4));
    auto link = attach::attach_in(state->object, program, spec, options);
    if (!link) return call.fail(link.error());
    push_link(call.L, box->state, *link);
    return 1;
  });
}

int object_attach_all(lua_State* L) {
  return guarded(L, [](Call& call) -> int {
    auto* box = static_cast<ObjectBox*>(call.udata_arg(1, kObjectType, "object"));
    ObjectState* state = box ? open_state(call, 1) : nullptr;
    if (!state) return 0;
    attach::AttachOptions options;
    if (lua_isnumber(call.L, 2)) options.pid = static_cast<int>(lua_tonumber(call.L, 2));
    auto links = attach::attach_all(state->object, options);
    if (!links) return call.fail(links.error());
    lua_createtable(call.L, static_cast<int>(links->size()), 0);
    int i = 1;
    for (attach::Link* link : *links) {
      push_link(call.L, box->state, link);
      lua_rawseti(call.L, -2, i++);
    }
    return 1;
  });
}

void close_state(HostContext& host, const std::shared_ptr<ObjectState>& state) {
  if (!state) return;
  if (host.loop)
    for (auto id : state->readers) (void)host.loop->remove(id);
  state->readers.clear();
  state->object.close();
  host.objects.erase(state);
}

int object_close(lua_State* L) {
  return guarded(L, [](Call& call) -> int {
    auto* box = static_cast<ObjectBox*>(call.udata_arg(1, kObjectType, "object"));
    if (!box) return 0;
    close_state(host_context(call.L), box->state);
    box->state.reset();
    return 0;
  });
}

int object_gc(lua_State* L) {
  auto* box = static_cast<ObjectBox*>(lua_touserdata(L, 1));
  // Idempotent: an explicit close() already reset the state. Objects still open
  // at shutdown are closed by HostContext::close_all before the state goes.
  if (box) {
    if (box->state && box->state.use_count() == 2) close_state(host_context(L), box->state);
    box->~ObjectBox();
  }
  return 0;
}

int object_info(lua_State* L) {
  return guarded(L, [](Call& call) -> int {
    ObjectState* state = open_state(call, 1);
    if (!state) return 0;
    lua_createtable(call.L, 0, 3);
    set_string(call.L, "name", state->object.name());
    lua_newtable(call.L);
    int i = 1;
    for (const auto& p : state->object.programs()) {
      lua_createtable(call.L, 0, 5);
      set_string(call.L, "name", p.name);
      set_string(call.L, "section", p.section);
      set_string(call.L, "type", p.type);
      set_number(call.L, "id", p.id);
      set_number(call.L, "instructions", static_cast<double>(p.instructions));
      lua_rawseti(call.L, -2, i++);
    }
    lua_setfield(call.L, -2, "programs");
    lua_newtable(call.L);
    i = 1;
    for (const auto& m : state->object.maps()) {
      lua_createtable(call.L, 0, 4);
      set_string(call.L, "name", m.name);
      set_string(call.L, "type", m.type);
      set_number(call.L, "id", m.id);
      set_number(call.L, "max_entries", m.max_entries);
      lua_rawseti(call.L, -2, i++);
    }
    lua_setfield(call.L, -2, "maps");
    set_number(call.L, "attachments", static_cast<double>(state->object.attachment_count()));
    return 1;
  });
}

// obj:declare_type("struct event") → cdef, type_name, size | nil, err
int object_declare_type(lua_State* L) {
  return guarded(L, [](Call& call) -> int {
    ObjectState* state = open_state(call, 1);
    std::string name;
    if (!state || !call.string_arg(2, name, "type name")) return 0;
    const struct btf* btf = object_btf(*state);
    if (!btf) return call.fail(no_btf_message(*state));
    auto type = state->ffi.declare_by_name(btf, name);
    if (!type) return call.fail(type.error());
    lua_pushlstring(call.L, type->cdef.data(), type->cdef.size());
    lua_pushstring(call.L, type->type_name.c_str());
    lua_pushnumber(call.L, static_cast<double>(type->size));
    return 3;
  });
}

// obj:enum_values("enum skb_drop_reason") → { {name = "...", value = n}, ... }
// in declaration order | nil, err. Scripts name kernel enum constants (drop
// reasons, TCP states) from the BTF of the kernel they run on rather than
// from a list that goes stale; the BPF C only has to use the enum in a type
// that reaches the object's BTF (an event struct member, say).
int object_enum_values(lua_State* L) {
  return guarded(L, [](Call& call) -> int {
    ObjectState* state = open_state(call, 1);
    std::string name;
    if (!state || !call.string_arg(2, name, "enum type name")) return 0;
    const struct btf* btf = object_btf(*state);
    if (!btf) return call.fail(no_btf_message(*state));
    auto id = find_type(btf, name);
    if (!id) return call.fail(id.error());
    auto values = enum_values(btf, *id);
    if (!values) return call.fail(values.error());
    lua_createtable(call.L, static_cast<int>(values->size()), 0);
    int i = 1;
    for (const auto& [constant, value] : *values) {
      lua_createtable(call.L, 0, 2);
      lua_pushlstring(call.L, constant.data(), constant.size());
      lua_setfield(call.L, -2, "name");
      set_number(call.L, "value", static_cast<double>(value));
      lua_rawseti(call.L, -2, i++);
    }
    return 1;
  });
}

int link_detach(lua_State* L) {
  return guarded(L, [](Call& call) -> int {
    auto* box = static_cast<LinkBox*>(call.udata_arg(1, kLinkType, "link"));
    if (!box) return 0;
    if (box->link && box->owner && box->owner->object.is_open()) box->link->detach();
    box->link = nullptr;
    return 0;
  });
}

int link_info(lua_State* L) {
  return guarded(L, [](Call& call) -> int {
    auto* box = static_cast<LinkBox*>(call.udata_arg(1, kLinkType, "link"));
    if (!box) return 0;
    bool attached = box->link && box->owner && box->owner->object.is_open() && box->link->attached();
    lua_createtable(call.L, 0, 3);
    set_string(call.L, "spec", box->spec);
    set_bool(call.L, "attached", attached);
    set_number(call.L, "id", attached ? box->link->id() : 0);
    return 1;
  });
}

int link_gc(lua_State* L) {
  if (auto* box = static_cast<LinkBox*>(lua_touserdata(L, 1))) box->~LinkBox();
  return 0;
}

int object_tostring(lua_State* L) {
  auto* box = static_cast<ObjectBox*>(lua_touserdata(L, 1));
  if (box && box->state)
    lua_pushfstring(L, "ebpf.object(%s)", box->state->object.name().c_str());
  else
    lua_pushliteral(L, "ebpf.object(closed)");
  return 1;
}

int link_tostring(lua_State* L) {
  auto* box = static_cast<LinkBox*>(lua_touserdata(L, 1));
  lua_pushfstring(L, "ebpf.link(%s)", box ? box->spec.c_str() : "?");
  return 1;
}

}  // namespace

void push_object(lua_State* L, std::shared_ptr<ObjectState> state) {
  push_udata<ObjectBox>(L, kObjectType, ObjectBox{std::move(state)});
}

void register_object_bindings(lua_State* L) {
  static const luaL_Reg object_methods[] = {
      {"attach", object_attach}, {"attach_all", object_attach_all},     {"close", object_close},
      {"info", object_info},     {"declare_type", object_declare_type}, {"enum_values", object_enum_values},
      {nullptr, nullptr}};
  luaL_newmetatable(L, kObjectType);
  lua_newtable(L);
  luaL_register(L, nullptr, object_methods);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, object_gc);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, object_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pop(L, 1);

  static const luaL_Reg link_methods[] = {{"detach", link_detach}, {"info", link_info}, {nullptr, nullptr}};
  luaL_newmetatable(L, kLinkType);
  lua_newtable(L);
  luaL_register(L, nullptr, link_methods);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, link_gc);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, link_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pop(L, 1);

  lua_pushcfunction(L, compile);
  lua_setfield(L, -2, "compile");
  lua_pushcfunction(L, load);
  lua_setfield(L, -2, "load");
}

void HostContext::close_all() {
  while (!objects.empty()) {
    auto state = *objects.begin();
    if (loop)
      for (auto id : state->readers) (void)loop->remove(id);
    state->readers.clear();
    state->object.close();
    objects.erase(state);
  }
}

}  // namespace ebpfrun::bindings

// ebpf.link userdata: one attachment of a program, owned by its object. A link
// holds its object's state so that it can tell when the object was closed
// (closing an object detaches every link taken from it).
#include "attach/link.h"
#include "bindings/host_context.h"
#include "bindings/lua_support.h"

namespace ebpfrun::bindings {
namespace {

struct LinkBox {
  std::shared_ptr<ObjectState> owner;
  attach::Link* link = nullptr;  // owned by owner->object; valid while it is open
  std::string spec;
};

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

// link:attached_as() → the spec the link was attached with: the one chosen
// when the program named alternatives.
int link_attached_as(lua_State* L) {
  return guarded(L, [](Call& call) -> int {
    auto* box = static_cast<LinkBox*>(call.udata_arg(1, kLinkType, "link"));
    if (!box) return 0;
    lua_pushlstring(call.L, box->spec.data(), box->spec.size());
    return 1;
  });
}

int link_gc(lua_State* L) {
  if (auto* box = static_cast<LinkBox*>(lua_touserdata(L, 1))) box->~LinkBox();
  return 0;
}

int link_tostring(lua_State* L) {
  auto* box = static_cast<LinkBox*>(lua_touserdata(L, 1));
  lua_pushfstring(L, "ebpf.link(%s)", box ? box->spec.c_str() : "?");
  return 1;
}

}  // namespace

void push_link(lua_State* L, const std::shared_ptr<ObjectState>& owner, attach::Link* link) {
  push_udata<LinkBox>(L, kLinkType, LinkBox{owner, link, link->spec()});
}

void register_link_bindings(lua_State* L) {
  static const luaL_Reg link_methods[] = {
      {"detach", link_detach}, {"info", link_info}, {"attached_as", link_attached_as}, {nullptr, nullptr}};
  luaL_newmetatable(L, kLinkType);
  lua_newtable(L);
  luaL_register(L, nullptr, link_methods);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, link_gc);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, link_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pop(L, 1);
}

}  // namespace ebpfrun::bindings

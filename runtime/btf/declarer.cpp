// FfiDeclarer: lowers BTF types to LuaJIT declarations, one named
// declaration at a time, dependencies first, remembering what it declared.
#include <fmt/format.h>

#include "btf/ffi_declarations.h"
#include "btf/internal/lowering.h"
#include "common/log.h"

namespace ebpfrun::types {

using namespace detail;

namespace {

// Lowers BTF types to LuaJIT declarations, appending every named declaration
// they need to `out` (dependencies first) and recording it in the state.
class Emitter {
 public:
  Emitter(detail::DeclarerState& state, const btf* b) : s_(state), b_(b) {}

  std::string out;

  // `level` is the nesting depth of inline (anonymous) bodies, for indentation.
  Result<Lowered> lower(uint32_t id, int level) {
    if (auto it = s_.declared.find(id); it != s_.declared.end()) return it->second;
    if (id == 0)
      return make_error(ErrorKind::invalid_argument,
                        "void has no data layout; only types with a size can be declared to LuaJIT.");
    const btf_type* t = btf__type_by_id(b_, id);
    if (!t) return make_error(ErrorKind::not_found, fmt::format("BTF type id {} does not exist in this object.", id));
    if (++depth_ > kMaxDepth)
      return make_error(ErrorKind::not_supported,
                        fmt::format("BTF type {} nests more than {} levels deep.", id, kMaxDepth));
    auto result = lower_kind(id, t, level);
    --depth_;
    return result;
  }

  std::string chosen_name(uint32_t id, std::string_view raw, bool tag) {
    if (auto it = s_.names.find(id); it != s_.names.end()) return it->second;
    std::string name = s_.prefix + sanitize(raw);
    if (s_.taken.count((tag ? "tag " : "ord ") + name)) name += fmt::format("_{}", id);
    s_.taken.insert((tag ? "tag " : "ord ") + name);
    s_.names[id] = name;
    return name;
  }

 private:
  Result<Lowered> lower_kind(uint32_t id, const btf_type* t, int level) {
    switch (btf_kind(t)) {
      case BTF_KIND_INT:
        return lower_int(t);
      case BTF_KIND_FLOAT:
        if (t->size == 4) return Lowered{"float", "", 4, 4};
        if (t->size == 8) return Lowered{"double", "", 8, 8};
        return Lowered{"uint8_t", fmt::format("[{}]", t->size), t->size, 1};
      case BTF_KIND_PTR:
      case BTF_KIND_FUNC_PROTO:
        return Lowered{"uint64_t", "", 8, 8};
      case BTF_KIND_CONST:
      case BTF_KIND_VOLATILE:
      case BTF_KIND_RESTRICT:
      case BTF_KIND_TYPE_TAG:
      case BTF_KIND_VAR:
        return lower(t->type, level);
      case BTF_KIND_ENUM:
      case BTF_KIND_ENUM64:
        if (t->size == 1 || t->size == 2 || t->size == 4 || t->size == 8)
          return Lowered{int_name(t->size, btf_kflag(t)), "", t->size, t->size};
        return make_error(ErrorKind::not_supported,
                          fmt::format("enum {} has size {}, which no integer type has.", name_of(b_, t), t->size));
      case BTF_KIND_ARRAY: {
        const struct btf_array* a = btf_array(t);
        auto elem = lower(a->type, level);
        if (!elem) return elem;
        return Lowered{elem->base, fmt::format("[{}]{}", a->nelems, elem->dims), elem->size * a->nelems, elem->align};
      }
      case BTF_KIND_TYPEDEF:
        return lower_typedef(id, t, level);
      case BTF_KIND_FWD: {
        Lowered l{fmt::format("{} {}{}", btf_kflag(t) ? "union" : "struct", s_.prefix, sanitize(name_of(b_, t))), "", 0,
                  1};
        out += l.base + ";\n";
        return s_.declared[id] = l;
      }
      case BTF_KIND_STRUCT:
      case BTF_KIND_UNION:
      case BTF_KIND_DATASEC:
        return lower_composite(id, t, level);
      default:
        return make_error(ErrorKind::invalid_argument,
                          fmt::format("BTF type {} ('{}') is a {}, not a data type that can be declared to LuaJIT.", id,
                                      name_of(b_, t), kind_name(t)));
    }
  }

  Result<Lowered> lower_int(const btf_type* t) {
    const uint8_t encoding = btf_int_encoding(t);
    if (t->size == 1 && (encoding & BTF_INT_BOOL)) return Lowered{"bool", "", 1, 1};
    if (t->size == 1 && (name_of(b_, t) == "char" || (encoding & BTF_INT_CHAR))) return Lowered{"char", "", 1, 1};
    if (t->size == 1 || t->size == 2 || t->size == 4 || t->size == 8)
      return Lowered{int_name(t->size, encoding & BTF_INT_SIGNED), "", t->size, t->size};
    if (t->size == 16) return Lowered{"uint64_t", "[2]", 16, 8};  // __int128: LuaJIT has no 128-bit integers.
    return make_error(
        ErrorKind::not_supported,
        fmt::format("integer type '{}' has size {}, which LuaJIT cannot represent.", name_of(b_, t), t->size));
  }

  Result<Lowered> lower_typedef(uint32_t id, const btf_type* t, int level) {
    const btf_type* target = btf__type_by_id(b_, skip(b_, t->type, true));
    bool scalar = target && (btf_is_int(target) || btf_is_float(target) || btf_is_any_enum(target) ||
                             btf_is_ptr(target) || btf_is_func_proto(target));
    auto lowered = lower(t->type, level);
    if (!lowered)
      return lowered.error_info().with_message(fmt::format("typedef {}: {}", name_of(b_, t), lowered.error()));
    if (scalar) return lowered;  // __u32, pid_t, ...: the fixed-width base type reads best in Lua.
    std::string name = chosen_name(id, name_of(b_, t), false);
    out += fmt::format("typedef {} {}{};\n", lowered->base, name, lowered->dims);
    return s_.declared[id] = Lowered{name, "", lowered->size, lowered->align};
  }

  Result<Lowered> lower_composite(uint32_t id, const btf_type* t, int level) {
    const bool is_union = btf_is_union(t);
    std::string raw = name_of(b_, t);
    if (btf_is_datasec(t)) raw = "sec_" + raw.substr(std::min(raw.find_first_not_of('.'), raw.size()));
    const std::string name = raw.empty() ? "" : chosen_name(id, raw, true);
    const int inner = name.empty() ? level + 1 : 1;
    const std::string what = fmt::format("{} {}", is_union ? "union" : "struct", raw.empty() ? "(anonymous)" : raw);

    std::vector<Member> members = members_of(b_, t);
    std::vector<Lowered> types(members.size());
    for (size_t i = 0; i < members.size(); ++i) {
      if (members[i].bits != 0) {
        if (!bit_base(b_, members[i].type))
          return make_error(ErrorKind::not_supported,
                            fmt::format("{}: bitfield '{}' is not an integer or enum.", what, members[i].name));
        continue;
      }
      auto lowered = lower(members[i].type, inner);
      if (!lowered)
        return lowered.error_info().with_message(
            fmt::format("{}, member '{}': {}", what, members[i].name, lowered.error()));
      types[i] = std::move(*lowered);
    }
    for (bool packed : {false, true}) {
      auto laid = lay_out(b_, members, types, is_union, t->size, packed, inner);
      if (!laid) continue;
      std::string head = fmt::format("{}{}{}", is_union ? "union" : "struct", packed ? " __attribute__((packed))" : "",
                                     name.empty() ? "" : " " + name);
      std::string body =
          fmt::format("{} {{\n{}{}}}", head, laid->text, std::string(static_cast<size_t>(inner - 1) * 4, ' '));
      if (name.empty()) return Lowered{body, "", t->size, laid->align};
      out += body + ";\n";
      return s_.declared[id] = Lowered{head.substr(0, head.find(' ')) + " " + name, "", t->size, laid->align};
    }
    return make_error(ErrorKind::not_supported,
                      fmt::format("{} (size {}) has a layout LuaJIT cannot reproduce, even packed.", what, t->size));
  }

  detail::DeclarerState& s_;
  const btf* b_;
  int depth_ = 0;
};

}  // namespace

FfiDeclarer::FfiDeclarer(std::string prefix) : state_(std::make_unique<detail::DeclarerState>()) {
  state_->prefix = sanitize(prefix);
  if (!state_->prefix.empty() && state_->prefix[0] >= '0' && state_->prefix[0] <= '9') state_->prefix.insert(0, "_");
}
FfiDeclarer::FfiDeclarer(FfiDeclarer&& other) noexcept = default;
FfiDeclarer& FfiDeclarer::operator=(FfiDeclarer&& other) noexcept = default;
FfiDeclarer::~FfiDeclarer() {
  if (state_ && !state_->declared.empty())
    log::debug("ffi declarer '{}': {} types were declared to LuaJIT", state_->prefix, state_->declared.size());
}

const std::string& FfiDeclarer::prefix() const { return state_->prefix; }

Result<FfiType> FfiDeclarer::declare(const struct btf* b, uint32_t type_id) {
  if (!b)
    return make_error(ErrorKind::not_found,
                      "This BPF object has no BTF, so its types cannot be declared to LuaJIT; compile it with -g.");
  if (!state_->btf) state_->fingerprint = fingerprint(b);
  if (state_->btf && state_->btf != b && fingerprint(b) != state_->fingerprint)
    return make_error(
        ErrorKind::invalid_argument,
        fmt::format("The FFI declarer '{}' belongs to another BPF object's BTF; use one declarer per object.",
                    state_->prefix));
  if (type_id >= btf__type_cnt(b))
    return make_error(
        ErrorKind::not_found,
        fmt::format("BTF type id {} does not exist in this object (it has {} types).", type_id, btf__type_cnt(b)));

  state_->btf = b;
  DeclarerState backup = *state_;  // An error must leave nothing recorded as declared.
  Emitter emitter(*state_, b);
  auto lowered = emitter.lower(type_id, 0);
  if (!lowered) {
    *state_ = std::move(backup);
    return std::move(lowered).take_error();
  }
  Lowered type = std::move(*lowered);
  if (type.base.find('{') != std::string::npos) {
    // An anonymous struct/union (or array of one) needs a name to be used with ffi.typeof.
    std::string name = emitter.chosen_name(type_id, fmt::format("anon{}", type_id), false);
    emitter.out += fmt::format("typedef {} {}{};\n", type.base, name, type.dims);
    type = state_->declared[type_id] = Lowered{name, "", type.size, type.align};
  }
  const int64_t btf_size = btf__resolve_size(b, type_id);
  if (btf_size >= 0 && static_cast<size_t>(btf_size) != type.size) {
    *state_ = std::move(backup);
    return make_error(ErrorKind::internal,
                      fmt::format("Internal error: BTF type {} has size {} but its LuaJIT declaration has size {}.",
                                  type_id, btf_size, type.size));
  }
  return FfiType{std::move(emitter.out), type.base + type.dims, type.size};
}

Result<FfiType> FfiDeclarer::declare_by_name(const struct btf* b, std::string_view c_name) {
  if (!b)
    return make_error(ErrorKind::not_found,
                      "This BPF object has no BTF, so its types cannot be declared to LuaJIT; compile it with -g.");
  auto id = find_type(b, c_name);
  if (!id) return std::move(id).take_error();
  return declare(b, *id);
}

}  // namespace ebpfrun::types

// BTF -> LuaJIT FFI declarations. See btf_ffi.h for the mapping rules; the
// layout rules mirrored here are those of LuaJIT's cp_struct_layout (x86-64):
// a regular field goes to the next multiple of its alignment (1 in a packed
// struct), a bitfield stays at the current bit unless, outside packed structs,
// it would cross a boundary of its container, and a struct's size is its end
// rounded up to its largest member alignment.
#include "bindings/btf_ffi.h"

#include <bpf/btf.h>
#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <set>
#include <string_view>
#include <unordered_map>

#include "common/log.h"

namespace ebpfrun::bindings {

namespace {

// How a BTF type is spelled in a LuaJIT declaration, and the layout LuaJIT gives it.
struct Lowered {
  std::string base;  // "uint32_t", "struct p_x", or an inline "struct { ... }" body
  std::string dims;  // array dimensions that follow the declarator's name, e.g. "[2][3]"
  size_t size = 0;
  size_t align = 1;
};

struct Member {
  std::string name;
  uint32_t type = 0;
  uint64_t bit_offset = 0;
  uint32_t bits = 0;  // bitfield width; 0 for a regular member
};

// The integer a bitfield is declared with.
struct BitBase {
  size_t bytes = 0;
  bool is_signed = false;
  bool is_bool = false;
};

constexpr int kMaxDepth = 64;

size_t fingerprint(const btf* b) {
  uint32_t size = 0;
  const void* raw = btf__raw_data(b, &size);
  return raw ? std::hash<std::string_view>{}(std::string_view(static_cast<const char*>(raw), size)) : 0;
}

size_t align_up(size_t value, size_t align) { return (value + align - 1) / align * align; }

std::string int_name(size_t bytes, bool is_signed) { return fmt::format("{}int{}_t", is_signed ? "" : "u", bytes * 8); }

std::string string_at(const btf* b, uint32_t offset) {
  const char* text = btf__name_by_offset(b, offset);
  return text ? text : "";
}

std::string name_of(const btf* b, const btf_type* t) { return string_at(b, t->name_off); }

// Anything that is not [A-Za-z0-9_] becomes '_' so the result is an identifier (part).
std::string sanitize(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) c = '_';
  }
  return out;
}

const char* kind_name(const btf_type* t) {
  switch (btf_kind(t)) {
    case BTF_KIND_INT:
      return "integer";
    case BTF_KIND_PTR:
      return "pointer";
    case BTF_KIND_ARRAY:
      return "array";
    case BTF_KIND_STRUCT:
      return "struct";
    case BTF_KIND_UNION:
      return "union";
    case BTF_KIND_ENUM:
    case BTF_KIND_ENUM64:
      return "enum";
    case BTF_KIND_FWD:
      return "forward declaration";
    case BTF_KIND_TYPEDEF:
      return "typedef";
    case BTF_KIND_FUNC:
      return "function";
    case BTF_KIND_FUNC_PROTO:
      return "function prototype";
    case BTF_KIND_VAR:
      return "variable";
    case BTF_KIND_DATASEC:
      return "data section";
    case BTF_KIND_FLOAT:
      return "floating-point type";
    case BTF_KIND_DECL_TAG:
      return "declaration tag";
    default:
      return "qualifier";
  }
}

// Follows const/volatile/restrict/type tags, and typedefs too when asked.
uint32_t skip(const btf* b, uint32_t id, bool typedefs) {
  for (int depth = 0; depth < kMaxDepth && id != 0; ++depth) {
    const btf_type* t = btf__type_by_id(b, id);
    if (!t) return id;
    if (!btf_is_mod(t) && !(typedefs && btf_is_typedef(t))) return id;
    id = t->type;
  }
  return id;
}

std::optional<BitBase> bit_base(const btf* b, uint32_t id) {
  const btf_type* t = btf__type_by_id(b, skip(b, id, true));
  if (t && btf_is_int(t))
    return BitBase{t->size, (btf_int_encoding(t) & BTF_INT_SIGNED) != 0, (btf_int_encoding(t) & BTF_INT_BOOL) != 0};
  if (t && btf_is_any_enum(t)) return BitBase{t->size, btf_kflag(t), false};
  return std::nullopt;
}

// A member or variable name as it goes into a declaration. Clang only emits C
// identifiers, but BTF is data: a name is a string-table entry libbpf does not
// check, so one holding ';' or '}' could otherwise rewrite the declaration
// (found by tests/fuzz/fuzz_btf_ffi).
std::string member_name(const btf* b, uint32_t name_off) {
  std::string name = sanitize(string_at(b, name_off));
  if (!name.empty() && name[0] >= '0' && name[0] <= '9') name.insert(0, "_");
  return name;
}

std::vector<Member> members_of(const btf* b, const btf_type* t) {
  std::vector<Member> out;
  if (btf_is_datasec(t)) {
    const btf_var_secinfo* vars = btf_var_secinfos(t);
    for (uint16_t i = 0; i < btf_vlen(t); ++i) {
      const btf_type* var = btf__type_by_id(b, vars[i].type);
      if (var && btf_is_var(var))
        out.push_back({member_name(b, var->name_off), var->type, uint64_t{vars[i].offset} * 8, 0});
    }
    return out;
  }
  const btf_member* members = btf_members(t);
  for (uint16_t i = 0; i < btf_vlen(t); ++i) {
    Member m{member_name(b, members[i].name_off), members[i].type, btf_member_bit_offset(t, i),
             btf_member_bitfield_size(t, i)};
    if (!btf_kflag(t)) {
      // Old-style BTF encodes a bitfield in the integer type itself.
      const btf_type* r = btf__type_by_id(b, skip(b, m.type, true));
      if (r && btf_is_int(r) && btf_int_bits(r) != r->size * 8) {
        m.bits = btf_int_bits(r);
        m.bit_offset += btf_int_offset(r);
      }
    }
    out.push_back(std::move(m));
  }
  return out;
}

// The LuaJIT bitfield container (the declared type first, then the smallest)
// that holds the field inside one aligned unit. LuaJIT reads the whole unit, so
// one lying within the struct is preferred; otherwise (the end of a packed
// struct) the read may extend up to 3 bytes past the struct, never past its
// size rounded up to 4. Returns 0 when no unit of at most 32 bits holds it.
size_t container_for(const BitBase& base, uint64_t bit_offset, uint32_t bits, size_t struct_size) {
  std::vector<size_t> candidates;
  if (base.bytes <= 4) candidates.push_back(base.bytes);
  candidates.insert(candidates.end(), {1, 2, 4});
  for (bool within : {true, false}) {
    for (size_t c : candidates) {
      uint64_t unit = c * 8;
      bool fits = bits <= unit && bit_offset % unit + bits <= unit;
      if (fits && (!within || bit_offset / unit * c + c <= struct_size)) return c;
    }
  }
  return 0;
}

struct LaidOut {
  std::string text;
  size_t align = 1;
};

// Emits the members at their exact BTF offsets, or nullopt when LuaJIT's
// natural (or, with `packed`, byte-aligned) layout cannot reach one of them.
std::optional<LaidOut> lay_out(const btf* b, const std::vector<Member>& members, const std::vector<Lowered>& types,
                               bool is_union, size_t size, bool packed, int level) {
  const std::string indent(static_cast<size_t>(level) * 4, ' ');
  LaidOut out;
  uint64_t bofs = 0, end = 0;  // bits
  auto pad_to = [&](uint64_t to) {
    while (bofs < to) {
      if (bofs % 8 != 0 || to - bofs < 8) {
        uint64_t k = std::min<uint64_t>(8 - bofs % 8, to - bofs);
        out.text += fmt::format("{}uint8_t :{};\n", indent, k);
        bofs += k;
      } else {
        uint64_t n = (to - bofs) / 8;
        out.text += fmt::format("{}uint8_t __pad_{}[{}];\n", indent, bofs / 8, n);
        bofs += n * 8;
      }
    }
  };
  for (size_t i = 0; i < members.size(); ++i) {
    const Member& m = members[i];
    const uint64_t target = is_union ? 0 : m.bit_offset;
    if (m.bits != 0) {
      BitBase base = *bit_base(b, m.type);
      bool as_bool = base.is_bool && m.bits == 1;
      size_t c = as_bool ? 1 : container_for(base, target, m.bits, size);
      if (c == 0) {
        log::debug("bitfield {}:{} at bit {} fits no LuaJIT bitfield container; its bits stay padding", m.name, m.bits,
                   target);
        continue;
      }
      if (target < bofs) return std::nullopt;
      pad_to(target);
      if (!packed && bofs % (c * 8) + m.bits > c * 8) return std::nullopt;
      out.text += fmt::format("{}{} {}:{};\n", indent, as_bool ? "bool" : int_name(c, base.is_signed), m.name, m.bits);
      out.align = std::max(out.align, packed ? size_t{1} : c);
      if (is_union)
        end = std::max<uint64_t>(end, m.bits);
      else
        bofs += m.bits;
      continue;
    }
    const Lowered& t = types[i];
    const size_t field_align = packed ? 1 : t.align;
    if (target % 8 != 0 || target < bofs || target % (field_align * 8) != 0) return std::nullopt;
    if (align_up(bofs, field_align * 8) != target) pad_to(target);
    std::string name = m.name;
    if (name.empty() && t.base.find('{') == std::string::npos) name = fmt::format("__anon_{}", target / 8);
    out.text += fmt::format("{}{}{}{}{};\n", indent, t.base, name.empty() ? "" : " ", name, t.dims);
    out.align = std::max(out.align, field_align);
    if (is_union)
      end = std::max<uint64_t>(end, t.size * 8);
    else
      bofs = target + t.size * 8;
  }
  if (!is_union) end = bofs;
  const uint64_t end_bytes = (end + 7) / 8;
  if (end_bytes > size) return std::nullopt;
  if (align_up(end_bytes, out.align) != size) {
    if (is_union)
      out.text += fmt::format("{}uint8_t __pad_tail[{}];\n", indent, size);
    else
      pad_to(uint64_t{size} * 8);
    if (align_up(size, out.align) != size) return std::nullopt;
  }
  return out;
}

}  // namespace

namespace detail {
struct DeclarerState {
  std::string prefix;
  const struct btf* btf = nullptr;                  // the BTF this declarer is bound to
  size_t fingerprint = 0;                           // of its raw bytes: an identical reopened BTF is the same object
  std::unordered_map<uint32_t, Lowered> declared;   // named types already in the Lua state's C namespace
  std::unordered_map<uint32_t, std::string> names;  // BTF id -> prefixed name chosen for it
  std::set<std::string> taken;                      // chosen names, as "tag X" or "ord X"
};
}  // namespace detail

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
    if (id == 0) return make_error("void has no data layout; only types with a size can be declared to LuaJIT.");
    const btf_type* t = btf__type_by_id(b_, id);
    if (!t) return make_error(fmt::format("BTF type id {} does not exist in this object.", id));
    if (++depth_ > kMaxDepth)
      return make_error(fmt::format("BTF type {} nests more than {} levels deep.", id, kMaxDepth));
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
        return make_error(fmt::format("enum {} has size {}, which no integer type has.", name_of(b_, t), t->size));
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
        return make_error(fmt::format("BTF type {} ('{}') is a {}, not a data type that can be declared to LuaJIT.", id,
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
        fmt::format("integer type '{}' has size {}, which LuaJIT cannot represent.", name_of(b_, t), t->size));
  }

  Result<Lowered> lower_typedef(uint32_t id, const btf_type* t, int level) {
    const btf_type* target = btf__type_by_id(b_, skip(b_, t->type, true));
    bool scalar = target && (btf_is_int(target) || btf_is_float(target) || btf_is_any_enum(target) ||
                             btf_is_ptr(target) || btf_is_func_proto(target));
    auto lowered = lower(t->type, level);
    if (!lowered) return make_error(fmt::format("typedef {}: {}", name_of(b_, t), lowered.error()));
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
          return make_error(fmt::format("{}: bitfield '{}' is not an integer or enum.", what, members[i].name));
        continue;
      }
      auto lowered = lower(members[i].type, inner);
      if (!lowered) return make_error(fmt::format("{}, member '{}': {}", what, members[i].name, lowered.error()));
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
    return make_error(fmt::format("{} (size {}) has a layout LuaJIT cannot reproduce, even packed.", what, t->size));
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
    return make_error("This BPF object has no BTF, so its types cannot be declared to LuaJIT; compile it with -g.");
  if (!state_->btf) state_->fingerprint = fingerprint(b);
  if (state_->btf && state_->btf != b && fingerprint(b) != state_->fingerprint)
    return make_error(fmt::format(
        "The FFI declarer '{}' belongs to another BPF object's BTF; use one declarer per object.", state_->prefix));
  if (type_id >= btf__type_cnt(b))
    return make_error(
        fmt::format("BTF type id {} does not exist in this object (it has {} types).", type_id, btf__type_cnt(b)));

  state_->btf = b;
  detail::DeclarerState backup = *state_;  // An error must leave nothing recorded as declared.
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
    return make_error(fmt::format("Internal error: BTF type {} has size {} but its LuaJIT declaration has size {}.",
                                  type_id, btf_size, type.size));
  }
  return FfiType{std::move(emitter.out), type.base + type.dims, type.size};
}

Result<FfiType> FfiDeclarer::declare_by_name(const struct btf* b, std::string_view c_name) {
  if (!b)
    return make_error("This BPF object has no BTF, so its types cannot be declared to LuaJIT; compile it with -g.");
  auto id = find_type(b, c_name);
  if (!id) return std::move(id).take_error();
  return declare(b, *id);
}

Result<uint32_t> find_type(const struct btf* b, std::string_view c_name) {
  if (!b) return make_error("This BPF object has no BTF; compile it with -g.");
  std::string name;  // c_name with runs of blanks collapsed and trimmed
  for (char c : c_name) {
    if (c == ' ' || c == '\t' || c == '\n') {
      if (!name.empty() && name.back() != ' ') name += ' ';
    } else {
      name += c;
    }
  }
  if (!name.empty() && name.back() == ' ') name.pop_back();
  std::vector<uint32_t> kinds;
  std::string bare = name;
  auto strip = [&](std::string_view keyword) {
    if (name.rfind(keyword, 0) != 0) return false;
    bare = name.substr(keyword.size());
    return true;
  };
  if (strip("struct "))
    kinds = {BTF_KIND_STRUCT, BTF_KIND_FWD};
  else if (strip("union "))
    kinds = {BTF_KIND_UNION, BTF_KIND_FWD};
  else if (strip("enum "))
    kinds = {BTF_KIND_ENUM, BTF_KIND_ENUM64};
  else if (!name.empty() && name[0] == '.')
    kinds = {BTF_KIND_DATASEC};
  else
    kinds = {BTF_KIND_TYPEDEF, BTF_KIND_STRUCT, BTF_KIND_UNION, BTF_KIND_ENUM,
             BTF_KIND_ENUM64,  BTF_KIND_INT,    BTF_KIND_FLOAT};
  for (uint32_t kind : kinds) {
    int32_t id = btf__find_by_name_kind(b, bare.c_str(), kind);
    if (id > 0) return static_cast<uint32_t>(id);
  }
  return make_error(
      fmt::format("This object's BTF has no type '{}'. Clang only emits types the BPF C uses: use it "
                  "(e.g. in a map's __type(value, ...) or a global variable) and check the spelling.",
                  name));
}

Result<std::vector<std::pair<std::string, int64_t>>> enum_values(const struct btf* b, uint32_t type_id) {
  if (!b) return make_error("This BPF object has no BTF; compile it with -g.");
  const btf_type* t = btf__type_by_id(b, skip(b, type_id, true));
  if (!t) return make_error(fmt::format("BTF type id {} does not exist in this object.", type_id));
  std::vector<std::pair<std::string, int64_t>> values;
  if (btf_is_enum(t)) {
    const struct btf_enum* e = btf_enum(t);
    for (uint16_t i = 0; i < btf_vlen(t); ++i)
      values.emplace_back(string_at(b, e[i].name_off),
                          btf_kflag(t) ? int64_t{e[i].val} : int64_t{static_cast<uint32_t>(e[i].val)});
  } else if (btf_is_enum64(t)) {
    const struct btf_enum64* e = btf_enum64(t);
    for (uint16_t i = 0; i < btf_vlen(t); ++i)
      values.emplace_back(string_at(b, e[i].name_off), static_cast<int64_t>(btf_enum64_value(&e[i])));
  } else {
    return make_error(fmt::format("BTF type {} ('{}') is a {}, not an enum.", type_id, name_of(b, t), kind_name(t)));
  }
  return values;
}

}  // namespace ebpfrun::bindings

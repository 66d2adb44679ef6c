// The members of a kernel struct from BTF (see kernel_structs.h).
#include "btf/kernel_structs.h"

#include <bpf/btf.h>
#include <fmt/format.h>

#include <map>
#include <memory>
#include <mutex>

#include "btf/ffi_declarations.h"
#include "btf/internal/spelling.h"

namespace ebpfrun::types {
namespace {

using detail::BtfFree;
using detail::spell;

// Parsing the kernel's BTF takes tens of milliseconds and a one-liner path
// looks up a struct per hop, so each file is parsed once per process.
const struct btf* cached_btf(const std::string& path) {
  static std::mutex mutex;
  static std::map<std::string, std::unique_ptr<struct btf, BtfFree>> parsed;
  std::lock_guard lock(mutex);
  auto& slot = parsed[path];
  if (!slot) slot.reset(btf__parse(path.c_str(), nullptr));
  return slot.get();
}

// The type under typedefs and qualifiers.
const struct btf_type* resolved(const struct btf* b, uint32_t id, uint32_t* out_id = nullptr) {
  for (int depth = 0; depth < 32; ++depth) {
    const struct btf_type* t = btf__type_by_id(b, id);
    if (!t) return nullptr;
    switch (btf_kind(t)) {
      case BTF_KIND_TYPEDEF:
      case BTF_KIND_CONST:
      case BTF_KIND_VOLATILE:
      case BTF_KIND_RESTRICT:
      case BTF_KIND_TYPE_TAG:
        id = t->type;
        continue;
      default:
        if (out_id) *out_id = id;
        return t;
    }
  }
  return nullptr;
}

// "struct task_struct", "union ...", "char" or "" for what a pointer,
// array or embedded aggregate holds.
std::string target_name(const struct btf* b, const struct btf_type* t) {
  if (!t) return "";
  const char* name = btf__name_by_offset(b, t->name_off);
  std::string n = name ? name : "";
  if (btf_is_struct(t)) return n.empty() ? "" : "struct " + n;
  if (btf_is_union(t)) return n.empty() ? "" : "union " + n;
  if (btf_is_fwd(t)) return (btf_kflag(t) ? "union " : "struct ") + n;
  if (btf_is_int(t) && t->size == 1) return "char";
  return "";
}

StructMember describe(const struct btf* b, const struct btf_member& m, uint32_t bits, const std::string& name) {
  StructMember out;
  out.name = name;
  out.type = spell(b, m.type);
  out.bits = bits;
  const struct btf_type* t = resolved(b, m.type);
  out.kind = "other";
  if (!t) return out;
  if (btf_is_int(t)) {
    out.kind = "int";
    out.size = t->size;
    out.is_signed = (btf_int_encoding(t) & BTF_INT_SIGNED) != 0;
  } else if (btf_is_enum(t) || btf_is_enum64(t)) {
    out.kind = "int";
    out.size = t->size;
    out.is_signed = btf_kflag(t);
  } else if (btf_is_ptr(t)) {
    out.kind = "pointer";
    out.size = 8;
    out.target = target_name(b, resolved(b, t->type));
  } else if (btf_is_struct(t) || btf_is_union(t)) {
    out.kind = btf_is_struct(t) ? "struct" : "union";
    out.size = t->size;
    out.target = target_name(b, t);
  } else if (btf_is_array(t)) {
    out.kind = "array";
    out.count = btf_array(t)->nelems;
    const struct btf_type* element = resolved(b, btf_array(t)->type);
    out.target = target_name(b, element);
    int64_t size = btf__resolve_size(b, m.type);
    out.size = size > 0 ? static_cast<uint32_t>(size) : 0;
  }
  return out;
}

// Appends the members of aggregate `t`, those of anonymous members in place.
void collect(const struct btf* b, const struct btf_type* t, std::vector<StructMember>& out, int depth) {
  if (depth > 8) return;
  const struct btf_member* members = btf_members(t);
  for (int i = 0; i < btf_vlen(t); ++i) {
    const char* name = btf__name_by_offset(b, members[i].name_off);
    uint32_t bits = btf_member_bitfield_size(t, i);
    if (!name || !*name) {
      const struct btf_type* inner = resolved(b, members[i].type);
      if (inner && (btf_is_struct(inner) || btf_is_union(inner))) collect(b, inner, out, depth + 1);
      continue;
    }
    out.push_back(describe(b, members[i], bits, name));
  }
}

}  // namespace

Result<std::vector<StructMember>> struct_members(std::string_view c_name, const std::string& btf_path) {
  const struct btf* b = cached_btf(btf_path);
  if (!b) return make_errno_error(errno, fmt::format("cannot read BTF from {}", btf_path));
  std::string name(c_name);
  std::vector<uint32_t> kinds = {BTF_KIND_STRUCT, BTF_KIND_UNION};
  if (name.rfind("struct ", 0) == 0) {
    name = name.substr(7);
    kinds = {BTF_KIND_STRUCT};
  } else if (name.rfind("union ", 0) == 0) {
    name = name.substr(6);
    kinds = {BTF_KIND_UNION};
  }
  for (uint32_t kind : kinds) {
    int32_t id = btf__find_by_name_kind(b, name.c_str(), kind);
    if (id <= 0) continue;
    std::vector<StructMember> members;
    collect(b, btf__type_by_id(b, id), members, 0);
    return members;
  }
  return make_error(ErrorKind::not_found, fmt::format("the kernel's BTF has no {}", c_name));
}

Result<std::vector<std::pair<std::string, int64_t>>> kernel_enum_values(std::string_view c_name,
                                                                        const std::string& btf_path) {
  const struct btf* b = cached_btf(btf_path);
  if (!b) return make_errno_error(errno, fmt::format("cannot read BTF from {}", btf_path));
  auto id = find_type(b, c_name);
  if (!id) return make_error(ErrorKind::not_found, fmt::format("the kernel's BTF has no {}", c_name));
  return enum_values(b, *id);
}

}  // namespace ebpfrun::types

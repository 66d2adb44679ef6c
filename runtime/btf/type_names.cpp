// Names and BTF walking for the LuaJIT lowering: integer and identifier
// spelling, the kind of a type for messages, and skipping qualifiers.
#include <fmt/format.h>

#include <functional>

#include "btf/internal/lowering.h"

namespace ebpfrun::types::detail {

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

}  // namespace ebpfrun::types::detail

// The C spelling of a BTF type (see internal/spelling.h).
#include "btf/internal/spelling.h"

#include <fmt/format.h>

namespace ebpfrun::types::detail {

// Function pointers are named by their kind rather than spelled out.
std::string spell(const struct btf* b, uint32_t id, int depth) {
  if (id == 0) return "void";
  if (depth > 16) return "...";
  const struct btf_type* t = btf__type_by_id(b, id);
  if (!t) return "?";
  std::string name = btf__name_by_offset(b, t->name_off) ? btf__name_by_offset(b, t->name_off) : "";
  switch (btf_kind(t)) {
    case BTF_KIND_PTR: {
      const struct btf_type* target = btf__type_by_id(b, t->type);
      if (target && btf_kind(target) == BTF_KIND_FUNC_PROTO) return "function pointer";
      std::string inner = spell(b, t->type, depth + 1);
      return inner + (inner.back() == '*' ? "*" : " *");
    }
    case BTF_KIND_CONST:
      return "const " + spell(b, t->type, depth + 1);
    case BTF_KIND_VOLATILE:
      return "volatile " + spell(b, t->type, depth + 1);
    case BTF_KIND_RESTRICT:
    case BTF_KIND_TYPE_TAG:
      return spell(b, t->type, depth + 1);
    case BTF_KIND_STRUCT:
      return "struct " + name;
    case BTF_KIND_UNION:
      return "union " + name;
    case BTF_KIND_ENUM:
    case BTF_KIND_ENUM64:
      return "enum " + name;
    case BTF_KIND_FWD:
      return (btf_kflag(t) ? "union " : "struct ") + name;
    case BTF_KIND_ARRAY:
      return fmt::format("{}[{}]", spell(b, btf_array(t)->type, depth + 1), btf_array(t)->nelems);
    default:
      return name.empty() ? "?" : name;
  }
}

}  // namespace ebpfrun::types::detail

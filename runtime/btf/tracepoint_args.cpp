// The arguments of a tracepoint from BTF (see tracepoint_args.h).
//
// Every tracepoint has a kernel function `__bpf_trace_<event>(void *__data,
// TP_PROTO args...)` that runs the BPF programs attached to it; BTF keeps
// its parameters with their names, so its prototype minus the first
// parameter is what a raw_tp or tp_btf program gets, in order.
#include "btf/tracepoint_args.h"

#include <bpf/btf.h>
#include <fmt/format.h>

#include <memory>

namespace ebpfrun::types {
namespace {

struct BtfFree {
  void operator()(struct btf* b) const { btf__free(b); }
};

// The C spelling of a type, innermost qualifier last ("const char *").
// Function pointers and arrays are rare in tracepoint prototypes; they are
// named by their kind rather than spelled out.
std::string spell(const struct btf* b, uint32_t id, int depth = 0) {
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

}  // namespace

Result<std::vector<TracepointArg>> tracepoint_args(std::string_view event, const std::string& btf_path) {
  std::unique_ptr<struct btf, BtfFree> b(btf__parse(btf_path.c_str(), nullptr));
  if (!b) return make_errno_error(errno, fmt::format("cannot read BTF from {}", btf_path));
  std::string function = fmt::format("__bpf_trace_{}", event);
  int32_t id = btf__find_by_name_kind(b.get(), function.c_str(), BTF_KIND_FUNC);
  if (id <= 0) return make_error(ErrorKind::not_found, fmt::format("the kernel's BTF has no tracepoint '{}'", event));
  const struct btf_type* proto = btf__type_by_id(b.get(), btf__type_by_id(b.get(), id)->type);
  if (!proto || btf_kind(proto) != BTF_KIND_FUNC_PROTO)
    return make_error(ErrorKind::not_found, fmt::format("{} in BTF is not a function", function));
  std::vector<TracepointArg> args;
  const struct btf_param* params = btf_params(proto);
  for (int i = 1; i < btf_vlen(proto); ++i) {
    const char* name = btf__name_by_offset(b.get(), params[i].name_off);
    args.push_back({name && *name ? name : fmt::format("arg{}", i - 1), spell(b.get(), params[i].type)});
  }
  return args;
}

}  // namespace ebpfrun::types

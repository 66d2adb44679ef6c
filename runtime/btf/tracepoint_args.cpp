// The arguments of a tracepoint from BTF (see tracepoint_args.h).
//
// Every tracepoint has a kernel function `__bpf_trace_<event>(void *__data,
// TP_PROTO args...)` that runs the BPF programs attached to it; BTF keeps
// its parameters with their names, so its prototype minus the first
// parameter is what a raw_tp or tp_btf program gets, in order. Events
// defined from a class share the class's function (class_proto below).
#include "btf/tracepoint_args.h"

#include <bpf/btf.h>
#include <fmt/format.h>

#include <memory>

#include "btf/internal/spelling.h"

namespace ebpfrun::types {

using detail::BtfFree;
using detail::spell;

namespace {

// The FUNC_PROTO a typedef of a function pointer names, or nullptr.
const struct btf_type* typedef_proto(const struct btf* b, int32_t id) {
  const struct btf_type* t = btf__type_by_id(b, id);
  while (t && (btf_is_typedef(t) || btf_is_ptr(t))) t = btf__type_by_id(b, t->type);
  return t && btf_is_func_proto(t) ? t : nullptr;
}

bool same_params(const struct btf_type* a, const struct btf_type* b) {
  if (btf_vlen(a) != btf_vlen(b)) return false;
  for (int i = 0; i < btf_vlen(a); ++i)
    if (btf_params(a)[i].type != btf_params(b)[i].type) return false;
  return true;
}

// An event defined from a class (DEFINE_EVENT, such as sched_wakeup from
// sched_wakeup_template) has no __bpf_trace_<event> of its own: it shares
// its class's. Its typedef btf_trace_<event> gives the prototype, without
// parameter names; the names are those of a __bpf_trace_ function with the
// same parameter types, the class's if its name tells.
const struct btf_type* class_proto(const struct btf* b, std::string_view event) {
  std::string name = fmt::format("btf_trace_{}", event);
  int32_t id = btf__find_by_name_kind(b, name.c_str(), BTF_KIND_TYPEDEF);
  if (id <= 0) return nullptr;
  const struct btf_type* proto = typedef_proto(b, id);
  if (!proto) return nullptr;
  // Of the functions of that shape, the one whose name shares the longest
  // prefix with the event's: classes are named after their events
  // (sched_wakeup_template for sched_wakeup and sched_waking).
  const struct btf_type* best = nullptr;
  size_t best_prefix = 0;
  const std::string wanted = fmt::format("__bpf_trace_{}", event);
  const uint32_t count = btf__type_cnt(b);
  for (uint32_t i = 1; i < count; ++i) {
    const struct btf_type* t = btf__type_by_id(b, i);
    if (!btf_is_func(t)) continue;
    const char* fname = btf__name_by_offset(b, t->name_off);
    if (!fname || std::string_view(fname).rfind("__bpf_trace_", 0) != 0) continue;
    const struct btf_type* candidate = btf__type_by_id(b, t->type);
    if (!candidate || !btf_is_func_proto(candidate) || !same_params(candidate, proto)) continue;
    size_t prefix = 0;
    while (fname[prefix] && prefix < wanted.size() && fname[prefix] == wanted[prefix]) ++prefix;
    if (!best || prefix > best_prefix) {
      best = candidate;
      best_prefix = prefix;
    }
  }
  if (best) return best;
  return proto;
}

}  // namespace

Result<std::vector<TracepointArg>> tracepoint_args(std::string_view event, const std::string& btf_path) {
  std::unique_ptr<struct btf, BtfFree> b(btf__parse(btf_path.c_str(), nullptr));
  if (!b) return make_errno_error(errno, fmt::format("cannot read BTF from {}", btf_path));
  std::string function = fmt::format("__bpf_trace_{}", event);
  int32_t id = btf__find_by_name_kind(b.get(), function.c_str(), BTF_KIND_FUNC);
  const struct btf_type* proto = nullptr;
  if (id > 0) {
    proto = btf__type_by_id(b.get(), btf__type_by_id(b.get(), id)->type);
  } else {
    proto = class_proto(b.get(), event);
  }
  if (!proto) return make_error(ErrorKind::not_found, fmt::format("the kernel's BTF has no tracepoint '{}'", event));
  if (btf_kind(proto) != BTF_KIND_FUNC_PROTO)
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

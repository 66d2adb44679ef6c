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

#include "btf/internal/spelling.h"

namespace ebpfrun::types {

using detail::BtfFree;
using detail::spell;

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

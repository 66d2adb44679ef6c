#include "attach/function_prototype.h"

#include <bpf/btf.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <memory>

#include <fmt/format.h>

namespace ebpfrun::attach {
namespace {

struct BtfFree {
  void operator()(struct btf* btf) const { btf__free(btf); }
};
struct DumpFree {
  void operator()(struct btf_dump* dump) const { btf_dump__free(dump); }
};

// btf_dump prints through a printf-like callback; this one appends to a string.
void append(void* ctx, const char* format, va_list args) {
  auto* out = static_cast<std::string*>(ctx);
  va_list copy;
  va_copy(copy, args);
  int n = std::vsnprintf(nullptr, 0, format, copy);
  va_end(copy);
  if (n <= 0) return;
  size_t at = out->size();
  out->resize(at + static_cast<size_t>(n) + 1);
  std::vsnprintf(out->data() + at, static_cast<size_t>(n) + 1, format, args);
  out->resize(at + static_cast<size_t>(n));
}

// The type behind typedefs and qualifiers, which decide how a value is read.
const struct btf_type* resolved(const struct btf* btf, uint32_t id) {
  const struct btf_type* type = btf__type_by_id(btf, id);
  while (type && (btf_is_typedef(type) || btf_is_mod(type) || btf_is_type_tag(type)))
    type = btf__type_by_id(btf, type->type);
  return type;
}

FunctionValue describe(const struct btf* btf, struct btf_dump* dump, uint32_t id, const std::string& name,
                       const std::string& prefix) {
  FunctionValue value;
  value.name = name;
  std::string declared = prefix + name;
  LIBBPF_OPTS(btf_dump_emit_type_decl_opts, opts, .field_name = declared.c_str());
  btf_dump__emit_type_decl(dump, id, &opts);
  const struct btf_type* type = resolved(btf, id);
  if (!type) return value;
  if (btf_is_ptr(type)) {
    value.pointer = true;
    const struct btf_type* target = resolved(btf, type->type);
    value.char_pointer = target && btf_is_int(target) && target->size == 1;
  } else if (btf_is_int(type)) {
    value.integer = type->size <= 8;
    value.is_signed = (btf_int_encoding(type) & BTF_INT_SIGNED) != 0;
  } else if (btf_is_any_enum(type)) {
    value.integer = true;
    // BTF marks a signed enum with kind_flag.
    value.is_signed = btf_kflag(type);
  }
  return value;
}

}  // namespace

Result<FunctionPrototype> function_prototype(const std::string& name, const std::string& prefix) {
  std::unique_ptr<struct btf, BtfFree> btf(btf__load_vmlinux_btf());
  if (!btf) {
    int err = errno;
    return make_errno_error(err, fmt::format("cannot read the kernel's BTF (/sys/kernel/btf/vmlinux): {}; fentry and "
                                             "fexit need a kernel built with CONFIG_DEBUG_INFO_BTF",
                                             std::strerror(err)));
  }
  int id = btf__find_by_name_kind(btf.get(), name.c_str(), BTF_KIND_FUNC);
  if (id <= 0)
    return make_error(ErrorKind::not_found,
                      fmt::format("the kernel's BTF has no function '{}', so fentry/fexit cannot attach to it (see "
                                  "ebpfrun -l 'fentry/{}*')",
                                  name, name.substr(0, 4)));
  const struct btf_type* func = btf__type_by_id(btf.get(), static_cast<uint32_t>(id));
  const struct btf_type* proto = btf__type_by_id(btf.get(), func->type);
  if (!proto || !btf_is_func_proto(proto))
    return make_error(ErrorKind::internal, fmt::format("the BTF entry of function '{}' has no prototype", name));

  std::string text;
  LIBBPF_OPTS(btf_dump_opts, dump_opts);
  std::unique_ptr<struct btf_dump, DumpFree> dump(btf_dump__new(btf.get(), append, &text, &dump_opts));
  if (!dump) return make_errno_error(errno, "cannot prepare the BTF dumper");

  FunctionPrototype out;
  out.name = name;
  const struct btf_param* params = btf_params(proto);
  for (uint16_t i = 0; i < btf_vlen(proto); ++i) {
    // A variadic function ends with a parameter of type 0; fentry cannot see those.
    if (params[i].type == 0) break;
    const char* param_name = btf__name_by_offset(btf.get(), params[i].name_off);
    std::string named = param_name && *param_name ? param_name : fmt::format("arg{}", i);
    text.clear();
    FunctionValue value = describe(btf.get(), dump.get(), params[i].type, named, prefix);
    value.declaration = text;
    out.params.push_back(std::move(value));
  }
  if (proto->type != 0) {
    text.clear();
    FunctionValue value = describe(btf.get(), dump.get(), proto->type, "ret", prefix);
    value.declaration = text;
    out.ret = std::move(value);
  }
  return out;
}

}  // namespace ebpfrun::attach

// runtime/attach — the prototype of a kernel function from the kernel's BTF
// (its FUNC entry and FUNC_PROTO): the parameters by name and C type, and the
// return type. One-liners on fentry/fexit and kprobe/kretprobe use it to
// offer a function's arguments by name and to declare them in a BPF_PROG() or
// BPF_KPROBE() signature.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace ebpfrun::attach {

// One parameter, or the return value.
struct FunctionValue {
  std::string name;           // the parameter's name in BTF ("arg<N>" where BTF has none); "ret" for the return value
  std::string declaration;    // its C declaration with the name `prefix + name`, e.g. "struct file *a_file"
  bool pointer = false;       // a pointer (to anything)
  bool char_pointer = false;  // a pointer to (const) char: a string
  bool is_signed = false;     // a signed integer or enum
  bool integer = false;       // an integer, enum or bool (fits __s64)
};

struct FunctionPrototype {
  std::string name;
  std::vector<FunctionValue> params;
  std::optional<FunctionValue> ret;  // empty for a void function
};

// The prototype of kernel function `name` in /sys/kernel/btf/vmlinux, its
// declarations naming each value `prefix + name`. Fails with not_found when
// the function is not in BTF (so fentry/fexit cannot attach to it).
Result<FunctionPrototype> function_prototype(const std::string& name, const std::string& prefix);

}  // namespace ebpfrun::attach

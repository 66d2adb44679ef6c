// runtime/btf kernel_structs — the members of a kernel struct or union, with
// what a one-liner needs to read each one (its size, sign, whether it is a
// string or a pointer to another struct), from the running kernel's BTF.
// For one-liner paths such as "next->comm" or "curtask->real_parent->tgid",
// which are checked against these before any C is written. Also the
// constants of a kernel enum, for naming values read from the kernel.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

namespace ebpfrun::types {

struct StructMember {
  std::string name;
  std::string type;  // C spelling: "pid_t", "struct task_struct *", "char[16]"
  // What the member is, typedefs and qualifiers looked through:
  //   "int" (also enums and bool), "pointer", "struct", "union", "array", "other".
  std::string kind;
  uint32_t size = 0;  // bytes (of the whole array for arrays)
  bool is_signed = false;
  uint32_t bits = 0;  // bitfield width; 0 for a regular member
  // For a pointer, an embedded struct or union, or an array: what it holds,
  // as "struct task_struct", "union ...", "char" or "" for anything else.
  std::string target;
  uint32_t count = 0;  // array elements
};

// The members of `c_name` ("struct task_struct", "union bpf_attr", or a bare
// name tried as a struct then a union). Members of anonymous structs and
// unions are listed as the struct's own, as C reaches them. Errors: no such
// type in the kernel's BTF (not_found), or the BTF cannot be read.
Result<std::vector<StructMember>> struct_members(std::string_view c_name,
                                                 const std::string& btf_path = "/sys/kernel/btf/vmlinux");

// The constants of a kernel enum ("enum skb_drop_reason"), in declaration
// order, as the running kernel numbers them. A BPF object's own BTF has the
// values of the kernel it was compiled against (a prebuilt object's: the
// build machine's), which differ between kernel versions; values a program
// read from the kernel are named with these. Errors: no such enum in the
// kernel's BTF (not_found, e.g. a kernel older than the enum), or the BTF
// cannot be read.
Result<std::vector<std::pair<std::string, int64_t>>> kernel_enum_values(
    std::string_view c_name, const std::string& btf_path = "/sys/kernel/btf/vmlinux");

}  // namespace ebpfrun::types

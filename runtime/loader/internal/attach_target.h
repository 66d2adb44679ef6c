// The loader's check of a program variant's attach target against the
// kernel's BTF (private to runtime/loader).
#pragma once

#include <bpf/bpf.h>

#include <string>

namespace ebpfrun::loader::detail {

// Whether the kernel's BTF has what bpf_program__set_attach_target would look
// for (errno ENOENT when not). libbpf (1.1) keeps the kernel BTF it loads for
// a failed set_attach_target until the object is loaded, and an object closed
// before that leaks it (5 MB): a missing target is found here first, with a
// BTF that is freed at once.
bool kernel_btf_has_target(bpf_attach_type type, const std::string& target);

}  // namespace ebpfrun::loader::detail

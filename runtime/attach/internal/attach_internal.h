// runtime/attach — pieces shared by attach.cpp and net_attach.cpp; not public.
#pragma once

#include <string>
#include <string_view>

#include "attach/link.h"
#include "attach/spec.h"
#include "common/result.h"

struct bpf_object;
struct bpf_program;

namespace ebpfrun::attach::detail {

// "program \"name\" (SEC(\"section\"), a kprobe program)".
std::string describe(bpf_program* program);

// The error for a program whose type does not fit the spec; `wanted` is the
// SEC() name such a program is declared with.
Error wrong_program_type(bpf_program* program, const Spec& spec, std::string_view wanted);

// The error for a failed attach call, from its errno, with advice where the
// errno has an obvious meaning.
Error attach_failed(const Spec& spec, int err, std::string_view detail = {});

Result<Link> attach_cgroup(bpf_program* program, const Spec& spec);
Result<Link> attach_sockmap(bpf_program* program, const Spec& spec, bpf_object* object);

}  // namespace ebpfrun::attach::detail

// runtime/attach — one program, several attach points in order of preference.
//
// Kernels differ in what they offer: fentry is refused by some, kprobes are
// missing from others, functions get renamed. A program can therefore name
// alternatives, e.g. {"fentry/tcp_v4_connect", "kprobe/tcp_v4_connect",
// "tracepoint/sock/inet_sock_set_state"}, and the first one that loads AND
// attaches on this kernel wins. An alternative of the program's own type is
// attached to the loaded program; one of another type (or one whose target
// is fixed at load, as for fentry / fexit / tp_btf) gets a copy of the program
// loaded for it (loader::Object::load_variant), sharing the object's maps.
// The copy is re-typed before load, which libbpf 1.1 can do for programs
// declared with a section that carries no BTF target (kprobe/…, tracepoint/…,
// raw_tp/…); a program declared SEC("fentry/…") can only be re-targeted to
// other fentry / fexit / tp_btf points.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "attach/attach.h"
#include "loader/object.h"

namespace ebpfrun::attach {

// Attaches program `program_name` of `object` at the first of `specs` that
// works. The Link (owned by the object) carries the spec chosen; the choice
// and why the earlier ones failed are logged (-v) and kept in the object's
// notes. When none works, one error names every alternative with its reason.
// A malformed spec is an error at once (a script mistake, not a kernel's).
Result<Link*> attach_first(loader::Object& object, std::string_view program_name, const std::vector<std::string>& specs,
                           AttachOptions options = {});

// The program type, expected attach type and target a copy of a program needs
// to be attached at `spec`; nullopt for kinds that cannot be an alternative
// (cgroup, sk_msg, sk_skb: their programs are written for one place).
std::optional<loader::ProgramVariant> variant_for(const Spec& spec);

}  // namespace ebpfrun::attach

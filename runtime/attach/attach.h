// runtime/attach — attach a loaded BPF program where a spec string says.
//
// attach_program() is the one entry point: it parses the spec (spec.h), checks
// that the program's type fits it, resolves names against the running system
// (tracefs, ELF symbols, USDT notes, cgroup v2, the object's sockmaps) so that
// a wrong name is answered with the nearest right ones, and returns a Link that
// detaches when destroyed. Kinds this kernel lacks (kprobes without
// CONFIG_KPROBES) fail with a message that names the tracepoint to use instead.
#pragma once

#include <string_view>

#include "attach/link.h"
#include "attach/spec.h"
#include "common/result.h"

struct bpf_object;
struct bpf_program;

namespace ebpfrun::attach {

struct AttachOptions {
  // uprobe, uretprobe, usdt and perf_event: only this process (-1: every
  // process, 0: the calling process). Other kinds cannot be scoped at attach
  // time and ignore it; filter inside the program instead (/*FILTER*/).
  int pid = -1;
  // sk_msg and sk_skb: the object whose sockmap/sockhash the spec names. Without
  // it only maps the program itself uses can be found.
  bpf_object* object = nullptr;
  // The program was loaded for exactly this spec (an attach alternative loads
  // its own copy with the type and target set then), so its SEC() name no
  // longer says where a tp_btf / fentry / fexit program is bound.
  bool loaded_for_spec = false;
};

// Attaches a loaded program by spec string, e.g. "tracepoint/sched/sched_switch".
Result<Link> attach_program(bpf_program* program, std::string_view spec, const AttachOptions& options = {});
// The same with a spec parsed already.
Result<Link> attach_program(bpf_program* program, const Spec& spec, const AttachOptions& options = {});

}  // namespace ebpfrun::attach

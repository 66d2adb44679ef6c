// runtime/system — what the running kernel's BPF can do, learned by asking it:
// libbpf's feature probes load a two-instruction program (or create a one-entry
// map) of each type, and the attach kinds libbpf cannot probe (tp_btf, fentry)
// are tried by loading a trivial program of that kind. Everything created here
// is closed before the function returns.
//
// Probing needs CAP_BPF (or root); without it every probe would fail with
// EPERM and say nothing about the kernel, so one "not probed" check is
// returned instead.
#pragma once

#include <vector>

#include "system/capabilities.h"
#include "system/check.h"

namespace ebpfrun::system {

// Program types ("prog tracepoint", ...), map types ("map ringbuf", ...),
// helpers ("helper bpf_ringbuf_reserve", ...), "fentry".
std::vector<Check> check_kernel_features(const Capabilities& caps);

// Individual probes, also used by the attach layer to explain failures.
// "prog tracing (tp_btf)": loads a tp_btf program for sched_switch.
Check check_tp_btf();
// "fentry": loads (and attaches, then detaches) a trivial fentry program.
Check check_fentry();

}  // namespace ebpfrun::system

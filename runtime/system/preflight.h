// runtime/system — preflight: is this machine ready to run BPF probes?
//
// A preflight is a list of checks (see check.h): capabilities, tracefs and
// bpffs, kernel BTF, kprobe/uprobe support, and optionally what the kernel's
// BPF supports (program and map types, helpers, tp_btf, fentry, run-time
// stats). `ebpfrun script.lua` runs the short list before compiling anything
// so that a missing privilege or file system is one clear message instead of
// an EPERM deep inside libbpf; `ebpfrun doctor` runs the full list and prints it.
#pragma once

#include <string>
#include <vector>

#include "common/result.h"
#include "system/check.h"
#include "system/mounts.h"

namespace ebpfrun::system {

struct PreflightOptions {
  // A normal run mounts a missing tracefs/bpffs when privileged (status
  // "fixed", logged): the user asked to trace and this is what they would do by
  // hand. `ebpfrun doctor` reports only, unless given --fix.
  MountPolicy mounts = MountPolicy::mount_if_missing;
  // Also load test programs to learn the kernel's program/map types, helpers,
  // tp_btf, fentry, run-time stats and the unprivileged-BPF sysctl (~tens of
  // ms). Off for a normal run, on for doctor.
  bool probe_features = false;
  // --btf PATH; empty means /sys/kernel/btf/vmlinux.
  std::string btf_path;
  // The executable named in setcap hints; empty means this process's.
  std::string executable;
};

// Every check the options ask for, in a stable order: kernel, capabilities,
// btf, tracefs, bpffs, kprobes, uprobes, then the feature probes.
std::vector<Check> run_preflight(const PreflightOptions& options = {});

// The checks a normal run needs (probe_features is ignored and off). Returns
// them when nothing blocking failed, otherwise the first blocking failure's
// sentence as the error.
Result<std::vector<Check>> preflight_for_run(const PreflightOptions& options = {});

}  // namespace ebpfrun::system

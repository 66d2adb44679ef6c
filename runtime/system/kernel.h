// runtime/system — facts about the running kernel that decide what can run:
// its version, its BTF, which probe event sources (kprobe, uprobe) it has, and
// the sysctl that governs unprivileged BPF. All read from /proc, /sys and
// uname; nothing here loads a program (see features.h for that).
#pragma once

#include <string>
#include <vector>

#include "common/result.h"
#include "system/capabilities.h"
#include "system/check.h"

namespace ebpfrun::system {

inline constexpr const char* kVmlinuxBtf = "/sys/kernel/btf/vmlinux";

struct KernelVersion {
  int major = 0;
  int minor = 0;
  int patch = 0;
  std::string release;  // uname -r
  std::string machine;  // uname -m
};

// Parses "6.18.44-fc-v595" style releases.
Result<KernelVersion> parse_kernel_release(const std::string& release);
Result<KernelVersion> kernel_version();

// "kernel": the version, a warning below 5.8 (no CAP_BPF, ring buffers or BPF_ENABLE_STATS).
Check check_kernel_version();
// "btf": the kernel's BTF (or the file given with --btf) exists and parses.
// Without it nothing compiles, so a failure blocks. With `parse` false only
// the header is checked (magic, version, sections within the file): a run
// does that, since parsing the kernel's BTF costs ~10 MB of heap and libbpf
// parses it again to load; doctor parses it and counts its types.
Check check_btf(const std::string& btf_path, bool parse = true);
// "kprobes" / "uprobes": whether the kernel has these event sources.
// `tracefs_dir` is where tracefs is mounted, or empty when it is not.
Check check_kprobes(const std::string& tracefs_dir);
Check check_uprobes(const std::string& tracefs_dir);
// "unprivileged_bpf_disabled": the sysctl's value and what it means for us.
Check check_unprivileged_bpf(const Capabilities& caps);

}  // namespace ebpfrun::system

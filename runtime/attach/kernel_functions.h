// runtime/attach — the kernel functions probes can attach to, for
// `ebpfrun -l 'kprobe/GLOB'` and `-l 'fentry/GLOB'` (as `bpftrace -l` lists
// them) and for suggesting names.
//
// Kprobes can go on the functions ftrace lists in
// tracefs/available_filter_functions; where that file cannot be read (no
// function tracer, or lockdown refuses it) the text symbols of
// /proc/kallsyms are the next best list (some of them cannot be probed).
// fentry / fexit need the function in the kernel's BTF: its FUNC entries.
#pragma once

#include <string>
#include <vector>

#include "common/result.h"

namespace ebpfrun::attach {

// Names matching the glob `pattern` (fnmatch), sorted, without duplicates.
Result<std::vector<std::string>> kprobe_functions(const std::string& pattern);
Result<std::vector<std::string>> btf_functions(const std::string& pattern);

}  // namespace ebpfrun::attach

// runtime/attach — the kernel's tracing names: tracefs, tracepoints, kprobes.
//
// Tracepoint attach needs tracefs for the tracepoint's id, and a misspelt
// tracepoint should come back with the names that do exist. Kprobes are
// optional in the kernel (this project's reference machine has none), so a
// kprobe spec on such a kernel must say so and point at a tracepoint instead.
#pragma once

#include <string>
#include <vector>

#include "attach/spec.h"
#include "common/result.h"

namespace ebpfrun::attach {

// The tracefs directory that holds events/. When tracefs is not mounted and we
// are root it is mounted at /sys/kernel/tracing (and logged); otherwise the
// error gives the exact mount command.
Result<std::string> tracefs();

// Category directories under events/ (e.g. "sched", "syscalls").
std::vector<std::string> tracepoint_categories(const std::string& tracefs_dir);
// Tracepoint names inside one category.
std::vector<std::string> tracepoints_in(const std::string& tracefs_dir, const std::string& category);

// Ok when tracepoint/CATEGORY/NAME exists; otherwise an error naming the
// nearest existing tracepoints (or categories).
Status check_tracepoint(const std::string& tracefs_dir, const Spec& spec);

// A sentence suggesting existing tracepoint names close to `name` for a
// raw_tracepoint or tp_btf that failed to attach; empty when none is close.
std::string raw_tracepoint_suggestion(const std::string& name);

// True when this kernel can create kprobes (CONFIG_KPROBES).
bool kprobes_available();

// The error for a kprobe/kretprobe spec on a kernel without kprobes, with the
// tracepoints that observe the same event where an obvious one exists.
Error kprobes_unavailable(const Spec& spec);

// The tracepoints ("CATEGORY/NAME") suggested instead of a kprobe on `symbol`;
// `exit` asks for the kretprobe counterpart. Only existing tracepoints are
// returned when tracefs can be read.
std::vector<std::string> tracepoints_instead_of_kprobe(const std::string& symbol, bool exit);

}  // namespace ebpfrun::attach

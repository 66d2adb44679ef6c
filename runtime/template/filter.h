// The /*FILTER*/ template component.
//
// BPF C sources mark the spot where a filter belongs with a /*FILTER*/ comment,
// usually at the top of a program's body. Before compilation each placeholder is
// replaced by C generated from a typed FilterSpec, so that one tracing program can
// be narrowed to a process, thread, command, user or cgroup without the script
// author writing (and getting wrong) the filtering code by hand.
//
// Semantics: several values given for one field are OR'ed (pid=1,2 matches either
// process); different fields are AND'ed (pid=1 and comm=bash must both hold). When
// an event does not match, the generated code makes the program return 0.
// Exclusions (exclude_pid) are the opposite: an event of an excluded process
// is dropped whatever else matches. They are how the shipped collectors keep
// ebpfrun's own process out of their figures.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace ebpfrun::tmpl {

// A typed filter. Values are validated when they are added with add_filter_value,
// so rendering a spec never fails.
struct FilterSpec {
  // Process ids (the kernel's tgid) as seen from the initial PID namespace, because
  // that is what bpf_get_current_pid_tgid reports; ids inside a container differ.
  std::vector<uint32_t> pids;
  // Thread ids (the kernel's pid), also from the initial PID namespace.
  std::vector<uint32_t> tids;
  // Exact task comm. The kernel keeps at most 15 bytes, so longer values are refused.
  std::vector<std::string> comms;
  // Task comm prefixes, useful for families such as "kworker".
  std::vector<std::string> comm_prefixes;
  // Real user ids, as seen from the initial user namespace.
  std::vector<uint32_t> uids;
  // cgroup v2 ids, which are the inode numbers of the cgroup directories.
  std::vector<uint64_t> cgroup_ids;
  // Process ids (tgid, initial PID namespace) whose events are dropped.
  std::vector<uint32_t> exclude_pids;

  // True when no field is set; such a spec renders to nothing.
  bool empty() const;
};

// Names of the accepted fields, in the order used in error messages:
// pid, tid, comm, comm_prefix, uid, cgroup, exclude_pid.
const std::vector<std::string>& known_filter_fields();

// Adds one untyped value (from a CLI flag or a Lua table) to the spec, validating it.
// Numbers must be plain decimal; cgroup also accepts a cgroup v2 directory path
// starting with '/', tried as given and then under /sys/fs/cgroup. Adding a value
// that is already present is a no-op, so repeated flags do not bloat the code.
Status add_filter_value(FilterSpec& spec, std::string_view field, std::string_view value);

// The C statement(s) for a spec: a single line, no newline, "" for an empty spec.
// The code is one block that depends on no header, so it works in any program.
std::string render_filter(const FilterSpec& spec);

// Replaces every /*FILTER*/ in `source`. source_name is used in errors (a file path
// or "<inline>"). A non-empty spec with no placeholder to go into is an error,
// because silently tracing everything would be worse than refusing to run.
Result<std::string> apply_filter(std::string_view source, const FilterSpec& spec, std::string_view source_name);

}  // namespace ebpfrun::tmpl

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
//
// The values are not part of the code. A placeholder expands to checks that
// read them from `const volatile` arrays in the object's .rodata (named
// ebpfrun_filter_FIELD), whose definitions are appended once at the end of the
// source; the compiled object is then patched with the values (filter_globals).
// So the C depends only on which fields are set: `--pid 1` and `--pid 2` (and
// every run's own exclude_pid) compile to the same source and hit the object
// cache, and since libbpf freezes .rodata before the verifier runs, the
// verifier still sees the values as constants. A value can never become code.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace ebpfrun::tmpl {

// The most values one field may hold: the size of its array in .rodata
// (beside it, ebpfrun_filter_FIELD_count says how many slots are used).
inline constexpr size_t kMaxFilterValues = 16;

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

// The fields that are set, in known_filter_fields order.
std::vector<std::string> set_filter_fields(const FilterSpec& spec);

// Adds one untyped value (from a CLI flag or a Lua table) to the spec, validating it.
// Numbers must be plain decimal; cgroup also accepts a cgroup v2 directory path
// starting with '/', tried as given and then under /sys/fs/cgroup. Adding a value
// that is already present is a no-op; more than kMaxFilterValues distinct
// values for one field is an error.
Status add_filter_value(FilterSpec& spec, std::string_view field, std::string_view value);

// Which checks a placeholder expands to. `fitted`: only those of the fields
// that are set, so the C depends on which fields a spec sets. `full`: every
// field's check, one whose count is 0 passing, so one object serves every
// spec (prebuilt objects are compiled this way): each check sits under its
// field's bit in one `const volatile` mask, ebpfrun_filter_fields, which the
// verifier sees as a constant, so it removes the checks of unset fields,
// helper calls included; what remains is the mask's load and a test per field
// (a single branch when no field is set).
enum class FilterForm { fitted, full };

// The C statement(s) for a spec: a single line, no newline, "" for an empty
// spec in the fitted form.
// The code is one block that depends on no header, so it works in any program;
// it declares the value arrays it reads as block-scope externs. It depends
// only on which fields are set, never on the values.
std::string render_filter(const FilterSpec& spec, FilterForm form = FilterForm::fitted);

// The file-scope definitions of the value arrays the code reads (all zero),
// one line; "" for an empty spec in the fitted form. Also independent of the
// values.
std::string render_filter_definitions(const FilterSpec& spec, FilterForm form = FilterForm::fitted);

// The bytes each value array and count must hold, by global variable name:
// what a build writes into the compiled object's .rodata. Host byte order,
// which is the BPF program's: the object is loaded on this machine.
struct FilterGlobal {
  std::string name;
  std::string bytes;
};
// The full form's objects also get ebpfrun_filter_fields, the mask of the
// fields that are set (nothing at all for an empty spec).
std::vector<FilterGlobal> filter_globals(const FilterSpec& spec, FilterForm form = FilterForm::fitted);

// Replaces every /*FILTER*/ in `source` and, when a spec is given, appends the
// definitions after the last line (so every line keeps its number).
// source_name is used in errors (a file path or "<inline>"). A non-empty spec
// with no placeholder to go into is an error, because silently tracing
// everything would be worse than refusing to run; so is a spec with more than
// kMaxFilterValues values in a field (possible after merging two specs).
// In the full form the definitions are appended whenever there is a
// placeholder, whatever the spec.
Result<std::string> apply_filter(std::string_view source, const FilterSpec& spec, std::string_view source_name,
                                 FilterForm form = FilterForm::fitted);

}  // namespace ebpfrun::tmpl

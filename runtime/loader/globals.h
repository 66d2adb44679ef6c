// runtime/loader — an object's global variables, the equivalent of a libbpf
// skeleton's `skel->rodata->targ_pid = 123` and `skel->bss->counter`.
//
// Globals live in the internal maps libbpf makes of the .rodata, .data and
// .bss sections, and their names, places and types come from the object's
// BTF (the DATASEC records). Before load a value sets the initial content of
// its section, which is the only way to set a `const volatile` (.rodata)
// global: libbpf freezes .rodata at load, and the verifier then treats its
// values as constants. After load, .data and .bss globals are read and written
// through the maps' memory mapping, shared with the running programs; a
// .rodata global can still be read.
//
// Values are typed against BTF: integers of any size (in range), bool,
// enums (by number or by enumerator name) and char arrays (from strings,
// which must leave room for the terminating zero).
#pragma once

#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/result.h"
#include "loader/object.h"

namespace ebpfrun::loader {

// A value as a script gives it: a number, a boolean or a string.
using GlobalValue = std::variant<double, bool, std::string>;

struct NamedGlobal {
  std::string name;
  GlobalValue value;
};

// The names of the object's global variables, as `name (section)`, sorted;
// the filter's own ebpfrun_filter_ arrays are left out.
std::vector<std::string> global_names(const Object& object);

// Sets a global. Before load it sets the initial value (kept across the
// loader's retries); after load it writes a .data/.bss global in place, and a
// .rodata global is an error that says it is read-only.
Status set_global(Object& object, std::string_view name, const GlobalValue& value);

// Sets several before load, stopping at the first error.
Status set_globals(Object& object, const std::vector<NamedGlobal>& globals);

// Reads a global: its initial value before load, the live value after.
Result<GlobalValue> get_global(const Object& object, std::string_view name);

}  // namespace ebpfrun::loader

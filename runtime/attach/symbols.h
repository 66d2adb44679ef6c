// runtime/attach — user-space binaries: where they are and what they contain.
//
// A uprobe or USDT spec names a binary the way people think of it ("libc",
// "libc.so.6", "bash", or a path) and a function or probe inside it. These
// helpers find the file like the dynamic linker would and read its ELF symbol
// tables and USDT notes with libelf, so that a wrong name is answered with the
// names that do exist rather than with ENOENT.
#pragma once

#include <string>
#include <vector>

#include "common/result.h"

namespace ebpfrun::attach {

// A path containing '/' must exist. A bare library name ("libc", "libc.so.6",
// "libssl") is looked up in the dynamic linker's cache (`ldconfig -p`) and then
// in /lib/<multiarch>, /usr/lib/<multiarch>, /lib and /usr/lib; any other bare
// name is looked up in $PATH.
Result<std::string> resolve_binary(const std::string& name);

// Names of the defined functions in the ELF file's .symtab and .dynsym, with
// any "@VERSION" suffix removed; sorted, without duplicates.
Result<std::vector<std::string>> function_symbols(const std::string& path);

// Ok when `symbol` is a function defined in `path` (a "name@VERSION" form is
// accepted as libbpf accepts it); otherwise an error naming the nearest ones.
Status check_function_symbol(const std::string& path, const std::string& symbol);

struct UsdtProbe {
  std::string provider;
  std::string name;
};

// The USDT probes (SystemTap .note.stapsdt notes) in the ELF file.
Result<std::vector<UsdtProbe>> usdt_probes(const std::string& path);

// Ok when provider:name is a USDT probe in `path`; otherwise an error listing
// the nearest probes the file has.
Status check_usdt_probe(const std::string& path, const std::string& provider, const std::string& name);

}  // namespace ebpfrun::attach

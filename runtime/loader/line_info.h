// Where a source line of a BPF object is, from the object's BTF line info:
// "probe.bpf.c:17" for the line text "e->pid = task->tgid;". Newer kernels
// (6.12, 6.18) print that location in the verifier log themselves ("; <source>
// @ file:line"); older ones (Debian's 6.1) print the source text alone, and
// the loader adds the location with this, so that a rejection names the file
// and line (the Lua line of inline C) on every kernel.
#pragma once

#include <string>
#include <string_view>

struct btf;

namespace ebpfrun::loader {

// The "file:line" (file as its base name, as the kernel prints it) of the
// first line-info record whose source text is `source_line` (compared without
// surrounding blanks), in the .BTF.ext section of the ELF object `elf` whose
// strings are in `btf`; empty when there is no such record, no BTF or no line
// info.
std::string source_location(std::string_view elf, const struct btf* btf, std::string_view source_line);

}  // namespace ebpfrun::loader

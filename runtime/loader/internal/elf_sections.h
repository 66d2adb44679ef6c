// The sections of a BPF ELF file that the loader reads before libbpf opens it
// (private to runtime/loader).
#pragma once

#include <string_view>
#include <vector>

namespace ebpfrun::loader::detail {

struct ElfSections {
  std::string_view btf;
  std::string_view btf_ext;
  std::vector<std::string_view> program_sections;  // names of executable sections
};

// The sections `elf` needs, read in place from a 64-bit little-endian ELF
// (what clang emits for bpfel); anything else yields nothing. The views point
// into `elf`.
ElfSections read_sections(std::string_view elf);

}  // namespace ebpfrun::loader::detail

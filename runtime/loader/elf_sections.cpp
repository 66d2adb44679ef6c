#include "loader/internal/elf_sections.h"

#include <elf.h>

#include <cstring>

namespace ebpfrun::loader::detail {

ElfSections read_sections(std::string_view elf) {
  ElfSections out;
  Elf64_Ehdr eh;
  if (elf.size() < sizeof eh) return out;
  std::memcpy(&eh, elf.data(), sizeof eh);
  if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
      eh.e_ident[EI_DATA] != ELFDATA2LSB || eh.e_shentsize != sizeof(Elf64_Shdr) || eh.e_shoff > elf.size() ||
      (elf.size() - eh.e_shoff) / sizeof(Elf64_Shdr) < eh.e_shnum || eh.e_shstrndx >= eh.e_shnum)
    return out;
  auto header = [&](size_t i) {
    Elf64_Shdr sh;
    std::memcpy(&sh, elf.data() + eh.e_shoff + i * sizeof sh, sizeof sh);
    return sh;
  };
  auto bytes = [&](const Elf64_Shdr& sh) -> std::string_view {
    if (sh.sh_type == SHT_NOBITS || sh.sh_offset > elf.size() || elf.size() - sh.sh_offset < sh.sh_size) return {};
    return elf.substr(sh.sh_offset, sh.sh_size);
  };
  const std::string_view names = bytes(header(eh.e_shstrndx));
  for (size_t i = 1; i < eh.e_shnum; ++i) {
    const Elf64_Shdr sh = header(i);
    if (sh.sh_name >= names.size()) continue;
    std::string_view name = names.substr(sh.sh_name);
    name = name.substr(0, name.find('\0'));
    if (name == ".BTF")
      out.btf = bytes(sh);
    else if (name == ".BTF.ext")
      out.btf_ext = bytes(sh);
    else if (sh.sh_type == SHT_PROGBITS && (sh.sh_flags & SHF_EXECINSTR))
      out.program_sections.push_back(name);
  }
  return out;
}

}  // namespace ebpfrun::loader::detail

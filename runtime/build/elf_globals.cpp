// Initial values of global variables written straight into a BPF ELF: how a
// build gives a filter its values after compiling value-free C, so that the
// object cache holds one object per filter shape, and an object written by
// `ebpfrun compile -F` carries its filter like any other.
#include <elf.h>

#include <cstring>

#include <fmt/format.h>

#include "build/build.h"

namespace ebpfrun::build {
namespace {

Error bad_elf(std::string_view why) {
  return make_error(ErrorKind::invalid_argument, fmt::format("cannot set a global in the BPF object: {}", why));
}

// A copy of a struct at `offset`, when the ELF is long enough to hold it.
template <typename T>
bool read_at(const std::string& elf, uint64_t offset, T& out) {
  if (offset > elf.size() || elf.size() - offset < sizeof(T)) return false;
  std::memcpy(&out, elf.data() + offset, sizeof(T));
  return true;
}

}  // namespace

Status set_elf_global(std::string& elf, std::string_view name, std::string_view bytes) {
  Elf64_Ehdr header{};
  if (!read_at(elf, 0, header) || std::memcmp(header.e_ident, ELFMAG, SELFMAG) != 0 ||
      header.e_ident[EI_CLASS] != ELFCLASS64 || header.e_shentsize != sizeof(Elf64_Shdr))
    return bad_elf("it is not a 64-bit ELF file");
  auto section = [&](size_t index, Elf64_Shdr& out) {
    return index < header.e_shnum && read_at(elf, header.e_shoff + index * sizeof(Elf64_Shdr), out);
  };
  for (size_t i = 0; i < header.e_shnum; ++i) {
    Elf64_Shdr symtab{};
    Elf64_Shdr strtab{};
    if (!section(i, symtab) || symtab.sh_type != SHT_SYMTAB) continue;
    if (!section(symtab.sh_link, strtab)) return bad_elf("its symbol table has no string table");
    for (uint64_t at = 0; at + sizeof(Elf64_Sym) <= symtab.sh_size; at += sizeof(Elf64_Sym)) {
      Elf64_Sym symbol{};
      if (!read_at(elf, symtab.sh_offset + at, symbol)) return bad_elf("its symbol table is cut short");
      if (ELF64_ST_TYPE(symbol.st_info) != STT_OBJECT || symbol.st_name >= strtab.sh_size) continue;
      const uint64_t name_at = strtab.sh_offset + symbol.st_name;
      if (name_at >= elf.size()) continue;
      const std::string_view symbol_name(elf.data() + name_at, ::strnlen(elf.data() + name_at, elf.size() - name_at));
      if (symbol_name != name) continue;
      Elf64_Shdr data{};
      if (!section(symbol.st_shndx, data) || data.sh_type != SHT_PROGBITS)
        return bad_elf(fmt::format("{} is not in a data section", name));
      if (symbol.st_size != bytes.size())
        return bad_elf(fmt::format("{} is {} bytes, not {}", name, symbol.st_size, bytes.size()));
      if (symbol.st_value > data.sh_size || data.sh_size - symbol.st_value < bytes.size() ||
          data.sh_offset + data.sh_size > elf.size())
        return bad_elf(fmt::format("{} lies outside its section", name));
      std::memcpy(elf.data() + data.sh_offset + symbol.st_value, bytes.data(), bytes.size());
      return ok_status();
    }
  }
  return bad_elf(fmt::format("it has no global variable {}", name));
}

}  // namespace ebpfrun::build

// BTF line info lookup by source text (see line_info.h).
#include "loader/line_info.h"

#include <bpf/btf.h>
#include <gelf.h>
#include <libelf.h>

#include <fmt/format.h>
#include <cstdint>
#include <cstring>

namespace ebpfrun::loader {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
    s.remove_suffix(1);
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  return s;
}

uint32_t u32_at(std::string_view data, size_t offset) {
  uint32_t v = 0;
  std::memcpy(&v, data.data() + offset, sizeof(v));
  return v;
}

// The bytes of the section called `wanted`, or empty.
std::string section_bytes(std::string_view elf_image, const char* wanted) {
  if (elf_version(EV_CURRENT) == EV_NONE) return {};
  // libelf takes a mutable image; it gets a copy (this runs once per rejection).
  std::string image(elf_image);
  Elf* elf = elf_memory(image.data(), image.size());
  if (!elf) return {};
  std::string out;
  size_t names = 0;
  if (elf_getshdrstrndx(elf, &names) == 0) {
    for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn; scn = elf_nextscn(elf, scn)) {
      GElf_Shdr header;
      if (!gelf_getshdr(scn, &header)) continue;
      const char* name = elf_strptr(elf, names, header.sh_name);
      if (!name || std::strcmp(name, wanted) != 0) continue;
      Elf_Data* data = elf_getdata(scn, nullptr);
      if (data && data->d_buf) out.assign(static_cast<const char*>(data->d_buf), data->d_size);
      break;
    }
  }
  elf_end(elf);
  return out;
}

}  // namespace

std::string source_location(std::string_view elf, const struct btf* btf, std::string_view source_line) {
  const std::string_view wanted = trim(source_line);
  if (!btf || wanted.empty()) return {};
  const std::string ext = section_bytes(elf, ".BTF.ext");
  // struct btf_ext_header: magic, version, flags, hdr_len, then the func_info
  // and line_info offsets and lengths (relative to the end of the header).
  if (ext.size() < 24 || (u32_at(ext, 0) & 0xffff) != 0xeB9F) return {};
  const uint32_t header_len = u32_at(ext, 4);
  const size_t start = size_t{header_len} + u32_at(ext, 16);
  const size_t end = start + u32_at(ext, 20);
  if (end > ext.size() || end < start + 4) return {};
  // The line info: a record size, then per section its name, a count and
  // that many struct bpf_line_info records.
  const uint32_t record_size = u32_at(ext, start);
  if (record_size < 16) return {};
  size_t pos = start + 4;
  while (pos + 8 <= end) {
    const uint32_t count = u32_at(ext, pos + 4);
    pos += 8;
    for (uint32_t i = 0; i < count && pos + record_size <= end; ++i, pos += record_size) {
      const char* text = btf__name_by_offset(btf, u32_at(ext, pos + 8));
      if (!text || trim(text) != wanted) continue;
      const char* file = btf__name_by_offset(btf, u32_at(ext, pos + 4));
      std::string_view base = file ? file : "";
      if (auto slash = base.rfind('/'); slash != std::string_view::npos) base.remove_prefix(slash + 1);
      // line_col: the line in the upper 22 bits, the column in the lower 10.
      return fmt::format("{}:{}", base, u32_at(ext, pos + 12) >> 10);
    }
  }
  return {};
}

}  // namespace ebpfrun::loader

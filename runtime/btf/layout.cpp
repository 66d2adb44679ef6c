// Members of BTF structs, unions and data sections, placed at their exact
// BTF offsets under LuaJIT's layout rules (see internal/lowering.h).
#include <fmt/format.h>

#include <algorithm>

#include "btf/internal/lowering.h"
#include "common/log.h"

namespace ebpfrun::types::detail {
namespace {

// A member or variable name as it goes into a declaration. Clang only emits C
// identifiers, but BTF is data: a name is a string-table entry libbpf does not
// check, so one holding ';' or '}' could otherwise rewrite the declaration
// (found by tests/fuzz/fuzz_btf_ffi).
std::string member_name(const btf* b, uint32_t name_off) {
  std::string name = sanitize(string_at(b, name_off));
  if (!name.empty() && name[0] >= '0' && name[0] <= '9') name = "_" + name;
  return name;
}

}  // namespace

std::vector<Member> members_of(const btf* b, const btf_type* t) {
  std::vector<Member> out;
  if (btf_is_datasec(t)) {
    const btf_var_secinfo* vars = btf_var_secinfos(t);
    for (uint16_t i = 0; i < btf_vlen(t); ++i) {
      const btf_type* var = btf__type_by_id(b, vars[i].type);
      if (var && btf_is_var(var))
        out.push_back({member_name(b, var->name_off), var->type, uint64_t{vars[i].offset} * 8, 0});
    }
    return out;
  }
  const btf_member* members = btf_members(t);
  for (uint16_t i = 0; i < btf_vlen(t); ++i) {
    Member m{member_name(b, members[i].name_off), members[i].type, btf_member_bit_offset(t, i),
             btf_member_bitfield_size(t, i)};
    if (!btf_kflag(t)) {
      // Old-style BTF encodes a bitfield in the integer type itself.
      const btf_type* r = btf__type_by_id(b, skip(b, m.type, true));
      if (r && btf_is_int(r) && btf_int_bits(r) != r->size * 8) {
        m.bits = btf_int_bits(r);
        m.bit_offset += btf_int_offset(r);
      }
    }
    out.push_back(std::move(m));
  }
  return out;
}

namespace {

// The LuaJIT bitfield container (the declared type first, then the smallest)
// that holds the field inside one aligned unit. LuaJIT reads the whole unit, so
// one lying within the struct is preferred; otherwise (the end of a packed
// struct) the read may extend up to 3 bytes past the struct, never past its
// size rounded up to 4. Returns 0 when no unit of at most 32 bits holds it.
size_t container_for(const BitBase& base, uint64_t bit_offset, uint32_t bits, size_t struct_size) {
  std::vector<size_t> candidates;
  if (base.bytes <= 4) candidates.push_back(base.bytes);
  candidates.insert(candidates.end(), {1, 2, 4});
  for (bool within : {true, false}) {
    for (size_t c : candidates) {
      uint64_t unit = c * 8;
      bool fits = bits <= unit && bit_offset % unit + bits <= unit;
      if (fits && (!within || bit_offset / unit * c + c <= struct_size)) return c;
    }
  }
  return 0;
}

}  // namespace

// Emits the members at their exact BTF offsets, or nullopt when LuaJIT's
// natural (or, with `packed`, byte-aligned) layout cannot reach one of them.
std::optional<LaidOut> lay_out(const btf* b, const std::vector<Member>& members, const std::vector<Lowered>& types,
                               bool is_union, size_t size, bool packed, int level) {
  const std::string indent(static_cast<size_t>(level) * 4, ' ');
  LaidOut out;
  uint64_t bofs = 0, end = 0;  // bits
  auto pad_to = [&](uint64_t to) {
    while (bofs < to) {
      if (bofs % 8 != 0 || to - bofs < 8) {
        uint64_t k = std::min<uint64_t>(8 - bofs % 8, to - bofs);
        out.text += fmt::format("{}uint8_t :{};\n", indent, k);
        bofs += k;
      } else {
        uint64_t n = (to - bofs) / 8;
        out.text += fmt::format("{}uint8_t __pad_{}[{}];\n", indent, bofs / 8, n);
        bofs += n * 8;
      }
    }
  };
  for (size_t i = 0; i < members.size(); ++i) {
    const Member& m = members[i];
    const uint64_t target = is_union ? 0 : m.bit_offset;
    if (m.bits != 0) {
      BitBase base = *bit_base(b, m.type);
      bool as_bool = base.is_bool && m.bits == 1;
      size_t c = as_bool ? 1 : container_for(base, target, m.bits, size);
      if (c == 0) {
        log::debug("bitfield {}:{} at bit {} fits no LuaJIT bitfield container; its bits stay padding", m.name, m.bits,
                   target);
        continue;
      }
      if (target < bofs) return std::nullopt;
      pad_to(target);
      if (!packed && bofs % (c * 8) + m.bits > c * 8) return std::nullopt;
      out.text += fmt::format("{}{} {}:{};\n", indent, as_bool ? "bool" : int_name(c, base.is_signed), m.name, m.bits);
      out.align = std::max(out.align, packed ? size_t{1} : c);
      if (is_union)
        end = std::max<uint64_t>(end, m.bits);
      else
        bofs += m.bits;
      continue;
    }
    const Lowered& t = types[i];
    const size_t field_align = packed ? 1 : t.align;
    if (target % 8 != 0 || target < bofs || target % (field_align * 8) != 0) return std::nullopt;
    if (align_up(bofs, field_align * 8) != target) pad_to(target);
    std::string name = m.name;
    if (name.empty() && t.base.find('{') == std::string::npos) name = fmt::format("__anon_{}", target / 8);
    out.text += fmt::format("{}{}{}{}{};\n", indent, t.base, name.empty() ? "" : " ", name, t.dims);
    out.align = std::max(out.align, field_align);
    if (is_union)
      end = std::max<uint64_t>(end, t.size * 8);
    else
      bofs = target + t.size * 8;
  }
  if (!is_union) end = bofs;
  const uint64_t end_bytes = (end + 7) / 8;
  if (end_bytes > size) return std::nullopt;
  if (align_up(end_bytes, out.align) != size) {
    if (is_union)
      out.text += fmt::format("{}uint8_t __pad_tail[{}];\n", indent, size);
    else
      pad_to(uint64_t{size} * 8);
    if (align_up(size, out.align) != size) return std::nullopt;
  }
  return out;
}

}  // namespace ebpfrun::types::detail

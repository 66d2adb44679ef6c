#include "loader/core_btf.h"

#include <bpf/btf.h>
#include <elf.h>
#include <linux/btf.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <set>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <fmt/format.h>

#include "btf/btf_identity.h"
#include "common/files.h"
#include "common/hash.h"
#include "common/log.h"
#include "loader/internal/elf_sections.h"
#include "loader/internal/kernel_btf.h"
#include "loader/internal/raw_btf.h"

namespace ebpfrun::loader {
namespace {

using detail::ElfSections;
using detail::RawBtf;
using detail::read_sections;

// CO-RE relocation kinds (enum bpf_core_relo_kind in linux/bpf.h).
constexpr uint32_t kTypeIdLocal = 6, kTypeIdTarget = 7, kTypeExists = 8, kTypeSize = 9, kTypeMatches = 12;

// Programs of these kinds make libbpf load the whole kernel BTF regardless
// (to find their attach target), so a small BTF would only add work. tp_btf
// programs are not among them: the loader binds those itself
// (tp_btf_targets.h).
bool needs_whole_kernel_btf(std::string_view section) {
  static constexpr std::array<std::string_view, 7> kPrefixes = {"fentry", "fexit",      "fmod_ret", "lsm",
                                                                "iter",   "struct_ops", "freplace"};
  return std::any_of(kPrefixes.begin(), kPrefixes.end(), [&](std::string_view p) { return section.starts_with(p); });
}

struct Relocation {
  uint32_t type_id;
  uint32_t kind;
};

// The CO-RE relocation records of .BTF.ext: after the header, a record size,
// then per program section its name offset, a count and the records
// (struct bpf_core_relo: insn_off, type_id, access_str_off, kind).
bool read_relocations(std::string_view ext, std::vector<Relocation>& out) {
  auto u32 = [&](size_t at, uint32_t& v) {
    if (at > ext.size() || ext.size() - at < 4) return false;
    std::memcpy(&v, ext.data() + at, 4);
    return true;
  };
  uint32_t word = 0, hdr_len = 0, relo_off = 0, relo_len = 0;
  if (!u32(0, word) || (word & 0xffff) != 0xeB9F || !u32(4, hdr_len)) return false;
  if (hdr_len < 32) return true;  // an old header: no CO-RE part
  if (!u32(24, relo_off) || !u32(28, relo_len)) return false;
  size_t at = size_t{hdr_len} + relo_off, end = at + relo_len;
  if (relo_len == 0) return true;
  if (end > ext.size()) return false;
  uint32_t record_size = 0;
  if (!u32(at, record_size) || record_size < 16) return false;
  at += 4;
  while (at < end) {
    uint32_t name_off = 0, count = 0;
    if (!u32(at, name_off) || !u32(at + 4, count)) return false;
    at += 8;
    if ((end - at) / record_size < count) return false;
    for (uint32_t i = 0; i < count; ++i, at += record_size) {
      Relocation r{};
      u32(at + 4, r.type_id);
      u32(at + 12, r.kind);
      out.push_back(r);
    }
  }
  return true;
}

const struct btf_type* skip_mods_and_typedefs(const struct btf* b, uint32_t id) {
  const struct btf_type* t = btf__type_by_id(b, id);
  while (t && (btf_is_mod(t) || btf_is_typedef(t))) t = btf__type_by_id(b, t->type);
  return t;
}

// Strings looked up by string_view without a copy.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view text) const { return std::hash<std::string_view>{}(text); }
};
using StringSet = std::unordered_set<std::string, StringHash, std::equal_to<>>;

// A name without its CO-RE flavour (`task_struct___old` is `task_struct`).
std::string_view essential_name(std::string_view name) {
  auto cut = name.find("___");
  return cut == std::string_view::npos ? name : name.substr(0, cut);
}

// Every type `id` reaches without going through a pointer: what a field
// access path can walk and what decides field compatibility. Pointers are
// kept, but point to void in the output (libbpf deems any two pointer fields
// compatible, and an access path never follows one).
void keep_embedded(const RawBtf& kernel, uint32_t id, std::vector<bool>& kept) {
  std::vector<uint32_t> todo{id};
  while (!todo.empty()) {
    uint32_t cur = todo.back();
    todo.pop_back();
    if (cur == 0 || kept[cur]) continue;
    kept[cur] = true;
    const struct btf_type* t = kernel.type(cur);
    if (!t) continue;
    if (btf_is_ptr(t)) continue;
    if (btf_is_mod(t) || btf_is_typedef(t) || btf_is_func(t) || btf_is_var(t)) {
      todo.push_back(t->type);
    } else if (btf_is_array(t)) {
      todo.push_back(btf_array(t)->type);
      todo.push_back(btf_array(t)->index_type);
    } else if (btf_is_composite(t)) {
      const struct btf_member* m = btf_members(t);
      for (int i = 0; i < btf_vlen(t); ++i) todo.push_back(m[i].type);
    } else if (btf_is_func_proto(t)) {
      todo.push_back(t->type);
      const struct btf_param* p = btf_params(t);
      for (int i = 0; i < btf_vlen(t); ++i) todo.push_back(p[i].type);
    }
  }
}

// The kept types, renumbered in their order, in a new raw BTF with a string
// section of their names alone.
std::string write_subset(const RawBtf& kernel, const std::vector<bool>& kept) {
  std::vector<uint32_t> renumbered(kept.size(), 0);
  uint32_t next = 1;
  for (size_t id = 1; id < kept.size(); ++id)
    if (kept[id]) renumbered[id] = next++;
  auto map = [&](uint32_t id) { return id < renumbered.size() ? renumbered[id] : 0; };
  std::string strings(1, '\0');
  std::unordered_map<std::string_view, uint32_t> string_offsets;
  auto name = [&](uint32_t offset) -> uint32_t {
    std::string_view text = kernel.name(offset);
    if (text.empty()) return 0;
    auto [it, added] = string_offsets.emplace(text, static_cast<uint32_t>(strings.size()));
    if (added) strings.append(text).push_back('\0');
    return it->second;
  };
  // Every record is a whole number of 32-bit words, so the section is built
  // as words and its types can be edited in place, aligned.
  std::vector<uint32_t> words;
  for (size_t id = 1; id < kept.size(); ++id) {
    if (!kept[id]) continue;
    std::string_view bytes = kernel.type_bytes(static_cast<uint32_t>(id));
    const size_t at = words.size();
    words.resize(at + bytes.size() / 4);
    std::memcpy(words.data() + at, bytes.data(), bytes.size());
    auto* t = reinterpret_cast<struct btf_type*>(words.data() + at);
    t->name_off = name(t->name_off);
    if (btf_is_ptr(t) || btf_is_mod(t) || btf_is_typedef(t) || btf_is_func(t) || btf_is_var(t) || btf_is_decl_tag(t) ||
        btf_is_type_tag(t)) {
      t->type = map(t->type);
    } else if (btf_is_array(t)) {
      btf_array(t)->type = map(btf_array(t)->type);
      btf_array(t)->index_type = map(btf_array(t)->index_type);
    } else if (btf_is_composite(t)) {
      struct btf_member* m = btf_members(t);
      for (int i = 0; i < btf_vlen(t); ++i) m[i].type = map(m[i].type), m[i].name_off = name(m[i].name_off);
    } else if (btf_is_func_proto(t)) {
      t->type = map(t->type);
      struct btf_param* p = btf_params(t);
      for (int i = 0; i < btf_vlen(t); ++i) p[i].type = map(p[i].type), p[i].name_off = name(p[i].name_off);
    } else if (btf_is_enum(t)) {
      struct btf_enum* e = btf_enum(t);
      for (int i = 0; i < btf_vlen(t); ++i) e[i].name_off = name(e[i].name_off);
    } else if (btf_is_enum64(t)) {
      struct btf_enum64* e = btf_enum64(t);
      for (int i = 0; i < btf_vlen(t); ++i) e[i].name_off = name(e[i].name_off);
    } else if (btf_is_datasec(t)) {
      struct btf_var_secinfo* v = btf_var_secinfos(t);
      for (int i = 0; i < btf_vlen(t); ++i) v[i].type = map(v[i].type);
    }
  }
  struct btf_header header {};
  header.magic = BTF_MAGIC;
  header.version = BTF_VERSION;
  header.hdr_len = sizeof header;
  header.type_off = 0;
  header.type_len = static_cast<uint32_t>(words.size() * 4);
  header.str_off = header.type_len;
  header.str_len = static_cast<uint32_t>(strings.size());
  std::string raw(reinterpret_cast<const char*>(&header), sizeof header);
  raw.append(reinterpret_cast<const char*>(words.data()), words.size() * 4);
  raw += strings;
  return raw;
}

}  // namespace

std::string minimal_core_btf(std::string_view elf, const detail::RawBtf& kernel, std::string* why) {
  auto refuse = [&](std::string reason) {
    if (why) *why = std::move(reason);
    return std::string();
  };
  const ElfSections sections = read_sections(elf);
  if (sections.btf.empty() || sections.btf_ext.empty()) return refuse("the object has no BTF or no .BTF.ext");
  for (auto name : sections.program_sections)
    if (needs_whole_kernel_btf(name)) return refuse(fmt::format("program section {} needs the whole kernel BTF", name));
  std::vector<Relocation> relocations;
  if (!read_relocations(sections.btf_ext, relocations)) return refuse("its .BTF.ext is malformed");
  if (relocations.empty()) return refuse("the object has no CO-RE relocations");

  struct btf* local = btf__new(sections.btf.data(), static_cast<uint32_t>(sections.btf.size()));
  if (!local) return refuse("its BTF does not parse");
  std::string reason;
  StringSet roots;                          // essential names of the relocated types
  std::vector<bool> root_kinds(32, false);  // their kinds: libbpf matches a candidate of the same kind only
  for (uint32_t id = 1; reason.empty() && id < btf__type_cnt(local); ++id) {
    const struct btf_type* t = btf__type_by_id(local, id);
    if (btf_is_datasec(t) && std::string_view(btf__name_by_offset(local, t->name_off)) == ".ksyms")
      reason = "it has typed ksyms, which need the whole kernel BTF";
  }
  for (const auto& r : relocations) {
    if (!reason.empty()) break;
    if (r.kind == kTypeIdLocal) continue;
    if (r.kind == kTypeIdTarget || r.kind == kTypeMatches || r.kind > kTypeMatches) {
      reason = fmt::format("a relocation of kind {} needs the kernel's own type ids or full types", r.kind);
      break;
    }
    const struct btf_type* t = btf__type_by_id(local, r.type_id);
    if (!t) {
      reason = "a relocation names a type its BTF lacks";
      break;
    }
    // Type-level checks compare pointed-to types, which the subset cuts.
    if (r.kind == kTypeExists || r.kind == kTypeSize) {
      const struct btf_type* bare = skip_mods_and_typedefs(local, r.type_id);
      if (!bare || btf_is_ptr(bare) || btf_is_array(bare) || btf_is_func_proto(bare)) {
        reason = "a type relocation on a pointer, array or function type";
        break;
      }
    }
    std::string_view name = essential_name(btf__name_by_offset(local, t->name_off));
    if (name.empty()) {
      reason = "a relocation names an anonymous type";
      break;
    }
    roots.emplace(name);
    root_kinds[btf_kind(t)] = true;
    // An enum and a 64-bit enum match each other.
    if (btf_is_any_enum(t)) root_kinds[BTF_KIND_ENUM] = root_kinds[BTF_KIND_ENUM64] = true;
  }
  btf__free(local);
  if (!reason.empty()) return refuse(reason);

  // Every kernel type of a relocated name and kind is a candidate libbpf may
  // match; each is kept with what it embeds. The kind is checked first: most
  // of the kernel's types are functions, which no relocation names.
  const uint32_t count = kernel.count();
  std::vector<bool> kept(count, false);
  std::set<std::string_view> found;
  for (uint32_t id = 1; id < count; ++id) {
    const struct btf_type* t = kernel.type(id);
    if (!t->name_off || !root_kinds[btf_kind(t)]) continue;
    std::string_view name = essential_name(kernel.name(t->name_off));
    if (auto it = roots.find(name); it != roots.end()) {
      found.insert(*it);
      keep_embedded(kernel, id, kept);
    }
  }
  for (const auto& name : roots)
    if (!found.count(name)) return refuse(fmt::format("the kernel BTF has no type {}", name));
  std::string raw = write_subset(kernel, kept);
  if (raw.empty()) return refuse("the subset could not be written");
  return raw;
}

std::string cached_core_btf(std::string_view elf, detail::KernelBtf& kernel) {
  const std::string& cache_dir = kernel.cache_dir();
  if (cache_dir.empty()) return {};
  const ElfSections sections = read_sections(elf);
  if (sections.btf.empty() || sections.btf_ext.empty()) return {};
  for (auto name : sections.program_sections)
    if (needs_whole_kernel_btf(name)) return {};
  const std::optional<uint64_t> kernel_hash = kernel.hash();
  if (!kernel_hash) return {};
  // The relocations depend on the object's BTF only, not on its code or the
  // filter values written into it.
  KeyHasher key;
  // "rules" changes with what needs_whole_kernel_btf refuses, so that marks
  // left by an earlier version are not taken for this one's verdict.
  key.add("rules", 2).add("btf", sections.btf).add("btf.ext", sections.btf_ext).add("kernel", *kernel_hash);
  const std::string path = cache_dir + "/" + key.hex() + ".btf";
  // An object that cannot be served by a subset is marked, so that later
  // runs do not load the whole kernel BTF once more only to find that again.
  const std::string refused = cache_dir + "/" + key.hex() + ".whole";
  if (files::exists(refused)) return {};
  if (struct btf* cached = btf__parse_raw(path.c_str())) {
    const bool usable = btf__type_cnt(cached) > 1;
    btf__free(cached);
    if (usable) return path;
  }
  // A first run: the whole kernel BTF once, to cut the subset from.
  const RawBtf* whole = kernel.whole();
  if (!whole) {
    log::debug("cannot read the kernel BTF {}: {}", types::kKernelBtfPath, std::strerror(errno));
    return {};
  }
  std::string why;
  std::string raw = minimal_core_btf(elf, *whole, &why);
  if (auto dir = files::make_dirs(cache_dir, 0700); !dir) return {};
  if (raw.empty()) {
    log::debug("CO-RE relocations use the whole kernel BTF: {}", why);
    (void)files::write_atomic(refused, why + "\n", 0600);
    return {};
  }
  if (auto written = files::write_atomic(path, raw, 0600); !written) {
    log::debug("cannot cache the CO-RE BTF subset in {}: {}", cache_dir, written.error());
    return {};
  }
  log::debug("cached a {}-byte kernel BTF subset for CO-RE in {}", raw.size(), path);
  return path;
}

}  // namespace ebpfrun::loader

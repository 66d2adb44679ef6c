#include "loader/globals.h"

#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <sys/mman.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include <fmt/format.h>

namespace ebpfrun::loader {
namespace {

constexpr std::string_view kFilterPrefix = "ebpfrun_filter_";

// One global: where its bytes are and what type they have.
struct Variable {
  std::string name;
  std::string section;
  bpf_map* map = nullptr;
  uint32_t type_id = 0;
  size_t offset = 0;
  size_t size = 0;
  bool read_only = false;
};

bool is_data_section(std::string_view name) {
  return name.starts_with(".rodata") || name.starts_with(".data") || name.starts_with(".bss");
}

// The internal map libbpf made of a section: it is named after the section,
// behind a prefix of the object's name ("probe.rodata") for the standard ones.
bpf_map* map_of_section(bpf_object* object, std::string_view section) {
  bpf_map* map;
  bpf_object__for_each_map(map, object) {
    if (!bpf_map__is_internal(map)) continue;
    std::string_view name = bpf_map__name(map);
    if (name.ends_with(section)) return map;
  }
  return nullptr;
}

std::vector<Variable> variables_of(const Object& object) {
  std::vector<Variable> out;
  const btf* b = object.raw() ? bpf_object__btf(object.raw()) : nullptr;
  if (!b) return out;
  for (uint32_t id = 1; id < btf__type_cnt(b); ++id) {
    const btf_type* t = btf__type_by_id(b, id);
    if (!btf_is_datasec(t)) continue;
    const std::string section = btf__name_by_offset(b, t->name_off);
    if (!is_data_section(section)) continue;
    bpf_map* map = map_of_section(object.raw(), section);
    if (!map) continue;
    const btf_var_secinfo* info = btf_var_secinfos(t);
    for (uint16_t i = 0; i < btf_vlen(t); ++i, ++info) {
      const btf_type* var = btf__type_by_id(b, info->type);
      if (!var || !btf_is_var(var)) continue;
      out.push_back(Variable{btf__name_by_offset(b, var->name_off), section, map, var->type, info->offset, info->size,
                             section.starts_with(".rodata")});
    }
  }
  return out;
}

// The kernel's copy of a loaded section, mapped for one access. libbpf (before
// 1.5) leaves bpf_map__initial_value pointing at its private copy after load,
// so the live values are mapped here from the map itself: libbpf creates the
// section maps with BPF_F_MMAPABLE, and the mapping is shared with the
// programs, so a write is seen by them at once, without touching the
// neighbouring variables the programs may be updating.
struct LiveSection {
  LiveSection(bpf_map* map, bool writable) {
    size_ = bpf_map__value_size(map);
    void* p = ::mmap(nullptr, size_, writable ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, bpf_map__fd(map), 0);
    data = p == MAP_FAILED ? nullptr : static_cast<char*>(p);
  }
  ~LiveSection() {
    if (data) ::munmap(data, size_);
  }
  LiveSection(const LiveSection&) = delete;
  LiveSection& operator=(const LiveSection&) = delete;
  char* data = nullptr;

 private:
  size_t size_ = 0;
};

Error unknown_global(const Object& object, std::string_view name) {
  auto names = global_names(object);
  return make_error(ErrorKind::not_found,
                    fmt::format("BPF object {} has no global variable '{}'; {}", object.name(), name,
                                names.empty() ? std::string("it has no globals")
                                              : fmt::format("its globals are: {}", fmt::join(names, ", "))));
}

Result<Variable> find_variable(const Object& object, std::string_view name) {
  if (!object.is_open())
    return make_error(ErrorKind::invalid_argument, fmt::format("BPF object {} is closed", object.name()));
  for (auto& variable : variables_of(object))
    if (variable.name == name) return variable;
  return unknown_global(object, name);
}

// The type under typedefs and qualifiers (const volatile pid_t → int).
const btf_type* resolved(const btf* b, uint32_t id) {
  const btf_type* t = btf__type_by_id(b, id);
  while (t && (btf_is_typedef(t) || btf_is_mod(t) || btf_is_type_tag(t))) t = btf__type_by_id(b, t->type);
  return t;
}

bool is_char_array(const btf* b, const btf_type* t, uint32_t& length) {
  if (!t || !btf_is_array(t)) return false;
  const btf_type* element = resolved(b, btf_array(t)->type);
  if (!element || !btf_is_int(element) || element->size != 1) return false;
  length = btf_array(t)->nelems;
  return true;
}

Error bad_value(const Variable& v, const std::string& why) {
  return make_error(ErrorKind::invalid_argument, fmt::format("global '{}': {}", v.name, why));
}

std::string describe(const GlobalValue& value) {
  if (const double* n = std::get_if<double>(&value)) return fmt::format("{}", *n);
  if (const bool* flag = std::get_if<bool>(&value)) return *flag ? "true" : "false";
  return "a string";
}

// The bytes of an integer of `size` bytes, or an error when it does not fit.
Result<std::string> integer_bytes(const Variable& v, double number, size_t size, bool is_signed) {
  if (!std::isfinite(number) || std::trunc(number) != number)
    return bad_value(v, fmt::format("{} is not an integer", number));
  const double bits = static_cast<double>(size * 8);
  const double low = is_signed ? -std::ldexp(1.0, static_cast<int>(bits) - 1) : 0.0;
  const double high = is_signed ? std::ldexp(1.0, static_cast<int>(bits) - 1) : std::ldexp(1.0, static_cast<int>(bits));
  if (number < low || number >= high)
    return bad_value(
        v, fmt::format("{} does not fit its {} {}-bit type", number, is_signed ? "signed" : "unsigned", size * 8));
  const uint64_t raw = number < 0 ? static_cast<uint64_t>(static_cast<int64_t>(number)) : static_cast<uint64_t>(number);
  std::string bytes(size, '\0');
  std::memcpy(bytes.data(), &raw, std::min(size, sizeof raw));  // little-endian host, as the BPF target
  return bytes;
}

Result<std::string> encode(const btf* b, const Variable& v, const GlobalValue& value) {
  const btf_type* t = resolved(b, v.type_id);
  uint32_t length = 0;
  if (t && btf_is_int(t) && (btf_int_encoding(t) & BTF_INT_BOOL)) {
    const bool* flag = std::get_if<bool>(&value);
    if (!flag) return bad_value(v, fmt::format("it is a bool, not {}", describe(value)));
    return std::string(t->size, '\0').replace(0, 1, 1, *flag ? '\1' : '\0');
  }
  if (t && btf_is_int(t) && t->size <= 8) {
    const double* number = std::get_if<double>(&value);
    if (!number) return bad_value(v, fmt::format("it is an integer, not {}", describe(value)));
    return integer_bytes(v, *number, t->size, btf_int_encoding(t) & BTF_INT_SIGNED);
  }
  if (t && btf_is_any_enum(t)) {
    double number = 0;
    if (const double* n = std::get_if<double>(&value)) {
      number = *n;
    } else if (const std::string* name = std::get_if<std::string>(&value)) {
      bool found = false;
      for (uint16_t i = 0; i < btf_vlen(t) && !found; ++i) {
        const uint32_t name_off = btf_is_enum(t) ? btf_enum(t)[i].name_off : btf_enum64(t)[i].name_off;
        if (*name != btf__name_by_offset(b, name_off)) continue;
        found = true;
        number = btf_is_enum(t) ? (btf_kflag(t) ? static_cast<double>(btf_enum(t)[i].val)
                                                : static_cast<double>(static_cast<uint32_t>(btf_enum(t)[i].val)))
                                : static_cast<double>(btf_enum64_value(btf_enum64(t) + i));
      }
      if (!found) return bad_value(v, fmt::format("its enum has no constant '{}'", *name));
    } else {
      return bad_value(v, "it is an enum: give a number or a constant's name, not a boolean");
    }
    return integer_bytes(v, number, t->size, btf_kflag(t));
  }
  if (is_char_array(b, t, length)) {
    const std::string* text = std::get_if<std::string>(&value);
    if (!text) return bad_value(v, fmt::format("it is a char[{}], not {}", length, describe(value)));
    if (text->size() >= length)
      return bad_value(
          v, fmt::format("a string of {} bytes does not fit char[{}] with its terminating zero", text->size(), length));
    std::string bytes(length, '\0');
    std::memcpy(bytes.data(), text->data(), text->size());
    return bytes;
  }
  return bad_value(v, "its type is not supported (integers, bool, enums and char arrays are)");
}

Result<GlobalValue> decode(const btf* b, const Variable& v, const char* data) {
  const btf_type* t = resolved(b, v.type_id);
  uint32_t length = 0;
  if (is_char_array(b, t, length)) return GlobalValue(std::string(data, ::strnlen(data, length)));
  const bool is_int = t && btf_is_int(t) && t->size <= 8;
  if (is_int && (btf_int_encoding(t) & BTF_INT_BOOL)) return GlobalValue(data[0] != 0);
  if (is_int || (t && btf_is_any_enum(t) && t->size <= 8)) {
    uint64_t raw = 0;
    std::memcpy(&raw, data, t->size);
    const bool is_signed = is_int ? (btf_int_encoding(t) & BTF_INT_SIGNED) != 0 : btf_kflag(t);
    if (is_signed && t->size < 8 && (raw >> (t->size * 8 - 1)) & 1) raw |= ~uint64_t{0} << (t->size * 8);
    return GlobalValue(is_signed ? static_cast<double>(static_cast<int64_t>(raw)) : static_cast<double>(raw));
  }
  return bad_value(v, "its type is not supported (integers, bool, enums and char arrays are)");
}

}  // namespace

std::vector<std::string> global_names(const Object& object) {
  std::vector<std::string> names;
  for (const auto& v : variables_of(object))
    if (!v.name.starts_with(kFilterPrefix)) names.push_back(fmt::format("{} ({})", v.name, v.section));
  std::sort(names.begin(), names.end());
  return names;
}

Status set_global(Object& object, std::string_view name, const GlobalValue& value) {
  auto variable = find_variable(object, name);
  if (!variable) return std::move(variable).take_error();
  auto bytes = encode(bpf_object__btf(object.raw()), *variable, value);
  if (!bytes) return std::move(bytes).take_error();
  if (bytes->size() != variable->size)
    return bad_value(*variable,
                     fmt::format("its BTF type is {} bytes but its place {}", bytes->size(), variable->size));
  if (!object.loaded()) return object.write_initial(variable->map, variable->offset, *bytes);
  if (variable->read_only)
    return make_error(ErrorKind::invalid_argument,
                      fmt::format("global '{}' is const ({}): it can only be set before load, with globals= in "
                                  "ebpf.compile or ebpf.load",
                                  name, variable->section));
  LiveSection live(variable->map, true);
  if (!live.data)
    return make_error(ErrorKind::not_supported,
                      fmt::format("global '{}' cannot be written: its map {} cannot be memory-mapped", name,
                                  bpf_map__name(variable->map)));
  std::memcpy(live.data + variable->offset, bytes->data(), bytes->size());
  return ok_status();
}

Status set_globals(Object& object, const std::vector<NamedGlobal>& globals) {
  for (const auto& global : globals)
    if (auto set = set_global(object, global.name, global.value); !set) return set;
  return ok_status();
}

Result<GlobalValue> get_global(const Object& object, std::string_view name) {
  auto variable = find_variable(object, name);
  if (!variable) return std::move(variable).take_error();
  if (!object.loaded()) {
    size_t size = 0;
    const auto* data = static_cast<const char*>(bpf_map__initial_value(variable->map, &size));
    if (!data || variable->offset + variable->size > size)
      return make_error(ErrorKind::not_supported, fmt::format("global '{}' has no initial value to read", name));
    return decode(bpf_object__btf(object.raw()), *variable, data + variable->offset);
  }
  LiveSection live(variable->map, false);
  if (!live.data)
    return make_error(ErrorKind::not_supported,
                      fmt::format("global '{}' cannot be read: its map {} cannot be memory-mapped", name,
                                  bpf_map__name(variable->map)));
  return decode(bpf_object__btf(object.raw()), *variable, live.data + variable->offset);
}

}  // namespace ebpfrun::loader

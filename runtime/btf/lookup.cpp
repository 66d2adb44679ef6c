// Finding a BTF type by the name the BPF C gives it, and an enum's constants.
#include <fmt/format.h>

#include "btf/ffi_declarations.h"
#include "btf/internal/lowering.h"

namespace ebpfrun::types {

using namespace detail;

Result<uint32_t> find_type(const struct btf* b, std::string_view c_name) {
  if (!b) return make_error(ErrorKind::not_found, "This BPF object has no BTF; compile it with -g.");
  std::string name;  // c_name with runs of blanks collapsed and trimmed
  for (char c : c_name) {
    if (c == ' ' || c == '\t' || c == '\n') {
      if (!name.empty() && name.back() != ' ') name += ' ';
    } else {
      name += c;
    }
  }
  if (!name.empty() && name.back() == ' ') name.pop_back();
  std::vector<uint32_t> kinds;
  std::string bare = name;
  auto strip = [&](std::string_view keyword) {
    if (name.rfind(keyword, 0) != 0) return false;
    bare = name.substr(keyword.size());
    return true;
  };
  if (strip("struct "))
    kinds = {BTF_KIND_STRUCT, BTF_KIND_FWD};
  else if (strip("union "))
    kinds = {BTF_KIND_UNION, BTF_KIND_FWD};
  else if (strip("enum "))
    kinds = {BTF_KIND_ENUM, BTF_KIND_ENUM64};
  else if (!name.empty() && name[0] == '.')
    kinds = {BTF_KIND_DATASEC};
  else
    kinds = {BTF_KIND_TYPEDEF, BTF_KIND_STRUCT, BTF_KIND_UNION, BTF_KIND_ENUM,
             BTF_KIND_ENUM64,  BTF_KIND_INT,    BTF_KIND_FLOAT};
  for (uint32_t kind : kinds) {
    int32_t id = btf__find_by_name_kind(b, bare.c_str(), kind);
    if (id > 0) return static_cast<uint32_t>(id);
  }
  return make_error(ErrorKind::not_found,
                    fmt::format("This object's BTF has no type '{}'. Clang only emits types the BPF C uses: use it "
                                "(e.g. in a map's __type(value, ...) or a global variable) and check the spelling.",
                                name));
}

Result<std::vector<std::pair<std::string, int64_t>>> enum_values(const struct btf* b, uint32_t type_id) {
  if (!b) return make_error(ErrorKind::not_found, "This BPF object has no BTF; compile it with -g.");
  const btf_type* t = btf__type_by_id(b, skip(b, type_id, true));
  if (!t)
    return make_error(ErrorKind::not_found, fmt::format("BTF type id {} does not exist in this object.", type_id));
  std::vector<std::pair<std::string, int64_t>> values;
  if (btf_is_enum(t)) {
    const struct btf_enum* e = btf_enum(t);
    for (uint16_t i = 0; i < btf_vlen(t); ++i)
      values.emplace_back(string_at(b, e[i].name_off),
                          btf_kflag(t) ? int64_t{e[i].val} : int64_t{static_cast<uint32_t>(e[i].val)});
  } else if (btf_is_enum64(t)) {
    const struct btf_enum64* e = btf_enum64(t);
    for (uint16_t i = 0; i < btf_vlen(t); ++i)
      values.emplace_back(string_at(b, e[i].name_off), static_cast<int64_t>(btf_enum64_value(&e[i])));
  } else {
    return make_error(ErrorKind::invalid_argument,
                      fmt::format("BTF type {} ('{}') is a {}, not an enum.", type_id, name_of(b, t), kind_name(t)));
  }
  return values;
}

}  // namespace ebpfrun::types

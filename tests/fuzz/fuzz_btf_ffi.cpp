// Fuzz target: BTF -> LuaJIT FFI declarations from mutated BTF blobs.
//
// Input: a raw .BTF section (the seeds are BTF of real compiled BPF objects).
// libbpf validates the blob first (btf__new); whatever it accepts is handed to
// the declarer type by type, by name and as enums, as the Lua module does with
// an object's BTF. Properties: no crash, no sanitizer finding, no endless
// recursion on cyclic types; and a declaration only ever holds identifiers,
// numbers, blanks and C punctuation: BTF names cannot put a comment, a string
// or a directive into ffi.cdef.
//
// The BTF -> FFI API is named only in declare_everything() and the include
// below, so the target can follow the code when it moves (e.g. to runtime/btf/).
#include <bpf/btf.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "btf/ffi_declarations.h"
#include "common/log.h"
#include "fuzz_check.h"

using namespace ebpfrun;

namespace {

// Larger blobs are valid fuzz input but slow each run down; the interesting
// shapes fit in the first types.
constexpr uint32_t kMaxTypes = 256;

void check_declaration(std::string_view text) {
  for (unsigned char c : text) {
    const bool ident = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if (!ident && std::string_view(" \n{}[]();:,*").find(static_cast<char>(c)) == std::string_view::npos)
      std::fprintf(stderr, "declaration: %.*s\noffending byte: 0x%02x\n", static_cast<int>(text.size()), text.data(),
                   c);
    FUZZ_CHECK(ident || std::string_view(" \n{}[]();:,*").find(static_cast<char>(c)) != std::string_view::npos,
               "an FFI declaration holds a character a BTF name could have smuggled in");
  }
}

void declare_everything(const struct btf* b) {
  types::FfiDeclarer declarer("fz_");
  const uint32_t count = std::min<uint32_t>(btf__type_cnt(b), kMaxTypes);
  for (uint32_t id = 1; id < count; ++id) {
    auto declared = declarer.declare(b, id);
    if (declared) {
      FUZZ_CHECK(!declared->type_name.empty(), "a declared type has no name");
      check_declaration(declared->cdef);
      check_declaration(declared->type_name);
    }
    (void)types::enum_values(b, id);
    const btf_type* t = btf__type_by_id(b, id);
    const char* name = t ? btf__name_by_offset(b, t->name_off) : nullptr;
    if (name && *name) {
      for (std::string_view keyword : {"", "struct ", "union ", "enum "}) {
        auto found = types::find_type(b, std::string(keyword) + name);
        if (found) (void)declarer.declare_by_name(b, std::string(keyword) + name);
      }
    }
  }
  // Ids past the end are refused, not read.
  FUZZ_CHECK(!declarer.declare(b, btf__type_cnt(b)).ok(), "a type id past the end was declared");
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  log::set_level(log::Level::error);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  struct btf* b = btf__new(data, static_cast<uint32_t>(size));
  if (!b) return 0;  // libbpf refused it: nothing reaches the declarer
  declare_everything(b);
  btf__free(b);
  return 0;
}

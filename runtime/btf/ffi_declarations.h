// runtime/btf ffi_declarations — the BTF types of a compiled BPF object as C
// declarations that LuaJIT's ffi.cdef accepts, laid out byte for byte like the
// BPF side, so that a script reads ring-buffer events, map keys/values and
// global data as typed cdata without a mirror struct.
//
// It offers: FfiDeclarer (declare a type by BTF id or by its C name, once per
// Lua state), find_type (a type's BTF id from its C name) and enum_values (an
// enum's constants). It is plain C++ over libbpf's BTF API and needs no Lua;
// bindings/ hands the declarations to ffi.cdef. Names get a per-object prefix
// (two objects' `struct event` coexist), scalar typedefs become fixed-width
// integers, pointers become uint64_t, enums their integer type, and layouts
// that LuaJIT would compute differently are padded or packed to match BTF
// exactly. The full rules are in internal/lowering.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

struct btf;

namespace ebpfrun::types {

namespace detail {
struct DeclarerState;
}

struct FfiType {
  // Declarations to pass to ffi.cdef, dependencies first. Empty when
  // everything the type needs was declared by an earlier call.
  std::string cdef;
  // The C type for ffi.typeof / ffi.new / ffi.cast, e.g.
  // "struct ebpfrun_o1_event", "uint32_t" or "char[16]".
  std::string type_name;
  // The BTF size of the type in bytes (0 for an opaque forward declaration).
  size_t size = 0;
};

// Declares BTF types of one BPF object to one Lua state. It remembers what it
// already handed out, because ffi.cdef fails on a redeclared struct: keep one
// declarer per (Lua state, object), alive as long as that Lua state, and pass
// every returned cdef to ffi.cdef before the next call. It is bound to the
// first BTF it is used with; using it with a different BTF is an error (the
// same BTF reopened, e.g. after a load retry, is accepted).
class FfiDeclarer {
 public:
  // `prefix` starts every name this declarer puts into the C namespace, e.g.
  // "ebpfrun_o1_". Characters that cannot appear in a C identifier become '_'.
  explicit FfiDeclarer(std::string prefix);
  FfiDeclarer(FfiDeclarer&& other) noexcept;
  FfiDeclarer& operator=(FfiDeclarer&& other) noexcept;
  FfiDeclarer(const FfiDeclarer&) = delete;
  FfiDeclarer& operator=(const FfiDeclarer&) = delete;
  ~FfiDeclarer();

  // Declares the type with this BTF id (and everything it contains). A VAR is
  // declared as its variable's type. On error nothing is recorded as declared.
  Result<FfiType> declare(const struct btf* btf, uint32_t type_id);
  // The same, for a type named as in the BPF C source: "struct event",
  // "union u", "enum e", "event" (a typedef, else a struct/union/enum tag),
  // "__u32", "unsigned int", or a data section such as ".bss".
  Result<FfiType> declare_by_name(const struct btf* btf, std::string_view c_name);

  const std::string& prefix() const;

 private:
  std::unique_ptr<detail::DeclarerState> state_;
};

// The BTF id of a type named as in the BPF C source (same forms as
// FfiDeclarer::declare_by_name), or an error that says why there is none.
Result<uint32_t> find_type(const struct btf* btf, std::string_view c_name);

// The constants of an enum (or ENUM64), in declaration order, with the names
// used in the BPF C source. `type_id` may also be a typedef or a qualified
// version of the enum. Unsigned 64-bit values above INT64_MAX come back as
// their two's-complement bit pattern: cast to uint64_t to recover them.
Result<std::vector<std::pair<std::string, int64_t>>> enum_values(const struct btf* btf, uint32_t type_id);

}  // namespace ebpfrun::types

// bindings/btf_ffi — BTF types of a compiled BPF object as LuaJIT FFI C declarations.
//
// A Lua script reads ring-buffer events, map keys/values and global data as
// typed cdata, without writing a mirror struct: the object's BTF (emitted by
// clang for every type the BPF C uses) is turned into C declarations that
// ffi.cdef accepts, laid out byte for byte like the BPF side.
//
// How BTF becomes LuaJIT C:
//  - Names. LuaJIT has one C namespace per Lua state and ffi.cdef cannot
//    redeclare a struct, so every named struct, union and typedef of an object
//    gets the declarer's prefix (`struct event` -> `struct ebpfrun_o1_event`).
//    Two objects that both define `struct event` differently then coexist.
//    A type the caller asks for that has no name of its own (an anonymous
//    struct, an array of one) is declared as `typedef ... <prefix>anon<id>`.
//  - Integers become LuaJIT's fixed-width types (int8_t ... uint64_t); `_Bool`
//    becomes bool and plain `char` stays char, so `char comm[16]` works with
//    ffi.string. Typedefs of scalars (__u32, pid_t, u64, ...) are resolved to
//    those base types rather than re-declared: `uint32_t` reads better in Lua
//    than `ebpfrun_o1___u32`, and costs no declarations. Typedefs of structs,
//    unions and arrays are kept, prefixed (`typedef struct ebpfrun_o1_x ebpfrun_o1_x_t;`).
//  - Enums become their integer type (sized and signed as in BTF: an enum can
//    be 1, 2, 4 or 8 bytes, while LuaJIT enums are always 4 bytes, and enum
//    constants would land in the shared C namespace). Their constants are
//    offered by enum_values() so the Lua layer can build a constants table.
//  - Pointers and function pointers become uint64_t. BPF pointers are 64-bit
//    kernel (or other-process) addresses: a script may print or compare them,
//    but dereferencing one in the host process would read unrelated memory.
//    It also breaks every cycle of self-referential types (struct node *next).
//  - const/volatile/restrict and type tags are dropped; a forward declaration
//    becomes an opaque `struct <prefix>name;`; a DATASEC (.bss, .data, .rodata)
//    becomes `struct <prefix>sec_<name>` with one member per global variable.
//  - Layout. Every member offset from BTF is checked against the layout LuaJIT
//    computes for the emitted declaration. Gaps (e.g. after an
//    `__attribute__((aligned(16)))` member) and tail padding become explicit
//    `uint8_t __pad_<offset>[n];` members; where natural alignment would put a
//    member later than BTF says (packed structs), the struct is emitted with
//    `__attribute__((packed))` and padded explicitly, so ffi.sizeof/offsetof
//    equal the BTF numbers exactly.
//  - Bitfields are emitted as LuaJIT bitfields at their exact BTF bit offset,
//    in a container of at most 32 bits (LuaJIT's limit). A bitfield that fits
//    no 8/16/32-bit aligned container (e.g. a 40-bit field of a u64) cannot be
//    expressed in LuaJIT: it is left out by name and its bits stay padding.
//    LuaJIT reads a bitfield with one load of its whole container; near the
//    end of a packed struct that load may reach up to 3 bytes past the struct
//    (masked off), which ring-buffer records and LuaJIT allocations, both
//    8-byte granular, always cover.
//  - Member names are kept as in C; one that is a Lua keyword (`in`, `end`)
//    is reached as e["in"].
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

namespace ebpfrun::bindings {

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

}  // namespace ebpfrun::bindings

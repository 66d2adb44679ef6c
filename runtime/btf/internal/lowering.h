// Internal to runtime/btf: the pieces the BTF -> LuaJIT C lowering is built
// from, shared by its files (type_names.cpp: names and BTF walking;
// layout.cpp: members and their placement; declarer.cpp: emitting
// declarations; lookup.cpp: finding types by their C name, enum constants).
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
//
// The layout rules mirrored here are those of LuaJIT's cp_struct_layout
// (x86-64): a regular field goes to the next multiple of its alignment (1 in a
// packed struct), a bitfield stays at the current bit unless, outside packed
// structs, it would cross a boundary of its container, and a struct's size is
// its end rounded up to its largest member alignment.
#pragma once

#include <bpf/btf.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace ebpfrun::types::detail {

// How a BTF type is spelled in a LuaJIT declaration, and the layout LuaJIT gives it.
struct Lowered {
  std::string base;  // "uint32_t", "struct p_x", or an inline "struct { ... }" body
  std::string dims;  // array dimensions that follow the declarator's name, e.g. "[2][3]"
  size_t size = 0;
  size_t align = 1;
};

struct Member {
  std::string name;
  uint32_t type = 0;
  uint64_t bit_offset = 0;
  uint32_t bits = 0;  // bitfield width; 0 for a regular member
};

// The integer a bitfield is declared with.
struct BitBase {
  size_t bytes = 0;
  bool is_signed = false;
  bool is_bool = false;
};

constexpr int kMaxDepth = 64;

// What one FfiDeclarer has handed out to its Lua state.
struct DeclarerState {
  std::string prefix;
  const struct btf* btf = nullptr;                  // the BTF this declarer is bound to
  size_t fingerprint = 0;                           // of its raw bytes: an identical reopened BTF is the same object
  std::unordered_map<uint32_t, Lowered> declared;   // named types already in the Lua state's C namespace
  std::unordered_map<uint32_t, std::string> names;  // BTF id -> prefixed name chosen for it
  std::set<std::string> taken;                      // chosen names, as "tag X" or "ord X"
};

// A hash of the BTF's raw bytes: an identical reopened BTF is the same object.
size_t fingerprint(const btf* b);
size_t align_up(size_t value, size_t align);
// "int32_t", "uint64_t", ...
std::string int_name(size_t bytes, bool is_signed);
std::string string_at(const btf* b, uint32_t offset);
std::string name_of(const btf* b, const btf_type* t);
// Anything that is not [A-Za-z0-9_] becomes '_' so the result is an identifier (part).
std::string sanitize(std::string_view text);
// "struct", "pointer", "function", ... for messages.
const char* kind_name(const btf_type* t);
// Follows const/volatile/restrict/type tags, and typedefs too when asked.
uint32_t skip(const btf* b, uint32_t id, bool typedefs);
// The integer type a bitfield of type `id` is declared with, if it is one.
std::optional<BitBase> bit_base(const btf* b, uint32_t id);

// The members of a struct/union, or the variables of a DATASEC, at their bit offsets.
std::vector<Member> members_of(const btf* b, const btf_type* t);

struct LaidOut {
  std::string text;
  size_t align = 1;
};

// Emits the members at their exact BTF offsets, or nullopt when LuaJIT's
// natural (or, with `packed`, byte-aligned) layout cannot reach one of them.
std::optional<LaidOut> lay_out(const btf* b, const std::vector<Member>& members, const std::vector<Lowered>& types,
                               bool is_union, size_t size, bool packed, int level);

}  // namespace ebpfrun::types::detail

// BTF -> LuaJIT FFI declarations, checked in a real LuaJIT state: every type's
// ffi.sizeof and ffi.offsetof must equal the BTF numbers, and every scalar
// reached through members and arrays must read back the bytes BTF places it on.
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include <catch2/catch.hpp>
#include <lua.hpp>

#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "btf/ffi_declarations.h"
#include "loader/object.h"
#include "support/test_support.h"

using namespace ebpfrun;
using types::FfiDeclarer;

namespace {

constexpr const char* kTypes = R"(#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

typedef __u32 t_u32_alias;
typedef t_u32_alias t_count_t;  /* typedef chain down to unsigned int */
enum t_kind { T_KIND_A = 1, T_KIND_B = 7, T_KIND_NEG = -3 };
enum t_big { T_BIG_SMALL = 1, T_BIG_HUGE = 0xfedcba9876543210ULL };  /* ENUM64 */
enum __attribute__((packed)) t_small { T_SMALL_X = 2, T_SMALL_Y = 200 };
struct t_inner { __u16 a; __u8 b; };
struct t_event {
    __u32 pid;
    char comm[16];
    struct t_inner inner;
    struct t_inner inners[3];
    __u64 grid[2][3];
    enum t_kind kind;
    enum t_big big;
    enum t_small small;
    t_count_t count;
    void *ptr;
    int (*fn)(int);
    union { __u32 as_u32; __u8 as_bytes[4]; };
    struct { __u16 x, y; } point;
    const volatile __u64 cv;
    float f;
    double d;
    _Bool flag;
};
struct t_bits {
    unsigned int a:3;
    unsigned int b:5;
    int c:4;
    unsigned int d:20;
    __u8 e;
    unsigned long long big:40;
    unsigned long long g:12;
    _Bool flag:1;
    enum t_kind k:4;
};
struct t_packed { __u8 a; __u32 b; __u16 c; __u64 d; } __attribute__((packed));
struct t_packed_nested { __u8 a; struct t_inner in; __u64 z; __u8 b:3; __u16 c:9; } __attribute__((packed));
struct t_aligned { __u8 a; __u64 b __attribute__((aligned(16))); __u8 c; };
struct t_holds_aligned { __u8 x; struct t_aligned al; __u32 y; };
struct t_node { struct t_node *next; __u32 value; };
union t_union { __u64 u; __u32 halves[2]; struct t_inner in; char c[3]; };
typedef struct { __u32 a; __u8 tag[5]; } t_anon_td;
struct t_flex { __u32 len; __u8 data[]; };
struct t_wide { __u8 a; unsigned __int128 w; };

struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 4); __type(key, t_count_t); __type(value, struct t_event); } t_events SEC(".maps");
struct t_bits g_bits;
struct t_packed g_packed;
struct t_packed_nested g_packed_nested;
struct t_holds_aligned g_holds_aligned;
struct t_node g_node;
union t_union g_union;
t_anon_td g_anon_td;
struct t_flex g_flex;
struct t_wide g_wide;
__u64 g_matrix[2][2];

SEC("tracepoint/syscalls/sys_enter_getppid")
int t_prog(void *ctx) { return 0; }
char LICENSE[] SEC("license") = "GPL";
)";

std::string event_source(const char* body) {
  return std::string("#include \"vmlinux.h\"\n#include <bpf/bpf_helpers.h>\nstruct event { ") + body +
         " };\nstruct event g_event;\nSEC(\"tracepoint/syscalls/sys_enter_getppid\") int p(void *ctx) { return 0; }\n"
         "char LICENSE[] SEC(\"license\") = \"GPL\";\n";
}

// One compile per source for the whole run: each test opens its own object.
const std::string& elf_of(const std::string& source) {
  static test::TempDir dir;
  static std::vector<std::pair<std::string, std::string>> cache;
  for (const auto& [src, elf] : cache)
    if (src == source) return elf;
  cache.emplace_back(source, test::compile_bpf(source, dir, "t" + std::to_string(cache.size()) + ".bpf.c"));
  return cache.back().second;
}

loader::Object open_object(const std::string& source) {
  auto object = loader::Object::open(elf_of(source), "btf_ffi_test");
  REQUIRE(object);
  REQUIRE(bpf_object__btf(object->raw()) != nullptr);
  return std::move(*object);
}

class Lua {
 public:
  Lua() : L_(luaL_newstate()) {
    luaL_openlibs(L_);
    REQUIRE(eval("ffi = require('ffi') return 'ok'") == "ok");
  }
  ~Lua() { lua_close(L_); }
  Lua(const Lua&) = delete;
  Lua& operator=(const Lua&) = delete;

  // Runs a chunk; tostring() of its first result, or "error: <message>".
  std::string eval(const std::string& code) {
    const int top = lua_gettop(L_);
    if (luaL_loadstring(L_, code.c_str()) != 0 || lua_pcall(L_, 0, 1, 0) != 0) {
      std::string message = std::string("error: ") + lua_tostring(L_, -1);
      lua_settop(L_, top);
      return message;
    }
    lua_getglobal(L_, "tostring");
    lua_insert(L_, -2);
    lua_call(L_, 1, 1);
    std::string result = lua_tostring(L_, -1);
    lua_settop(L_, top);
    return result;
  }
  void set(const char* name, const std::string& bytes) {
    lua_pushlstring(L_, bytes.data(), bytes.size());
    lua_setglobal(L_, name);
  }
  std::string cdef(const std::string& text) {
    set("cdef_text", text);
    return eval("ffi.cdef(cdef_text) return 'ok'");
  }
  // Makes `p` a pointer of type `type_name` to a copy of `bytes`.
  void point_at(const std::string& type_name, const std::string& bytes) {
    set("bytes", bytes);
    REQUIRE(eval("mem = ffi.new('uint8_t[?]', #bytes + 8) ffi.copy(mem, bytes, #bytes) p = ffi.cast('" + type_name +
                 "*', mem) return 'ok'") == "ok");
  }

 private:
  lua_State* L_;
};

const btf_type* resolved(const btf* b, uint32_t* id) {
  const btf_type* t = btf__type_by_id(b, *id);
  while (t && (btf_is_mod(t) || btf_is_typedef(t) || btf_is_var(t))) t = btf__type_by_id(b, *id = t->type);
  return t;
}

struct Field {
  std::string name;
  uint32_t type;
  uint64_t bit_offset;
  uint32_t bits;
};

std::vector<Field> fields_of(const btf* b, const btf_type* t) {
  std::vector<Field> out;
  if (btf_is_datasec(t)) {
    for (uint16_t i = 0; i < btf_vlen(t); ++i) {
      const btf_var_secinfo& v = btf_var_secinfos(t)[i];
      out.push_back({btf__name_by_offset(b, btf__type_by_id(b, v.type)->name_off), v.type, uint64_t{v.offset} * 8, 0});
    }
  } else if (btf_is_composite(t)) {
    for (uint16_t i = 0; i < btf_vlen(t); ++i)
      out.push_back({btf__name_by_offset(b, btf_members(t)[i].name_off), btf_members(t)[i].type,
                     btf_member_bit_offset(t, i), btf_member_bitfield_size(t, i)});
  }
  return out;
}

// Checks ffi.offsetof for every named member (anonymous members' fields are
// reached through the outer type, as LuaJIT allows).
void check_offsets(Lua& lua, const btf* b, uint32_t id, const std::string& type_name, uint64_t base, int* checked) {
  const btf_type* t = resolved(b, &id);
  for (const Field& f : fields_of(b, t)) {
    uint32_t fid = f.type;
    if (f.name.empty()) {
      check_offsets(lua, b, fid, type_name, base + f.bit_offset / 8, checked);
    } else if (f.bits == 0) {
      INFO(type_name << "." << f.name);
      CHECK(lua.eval("return ffi.offsetof('" + type_name + "', '" + f.name + "')") ==
            std::to_string(base + f.bit_offset / 8));
      ++*checked;
    }
  }
}

// The value LuaJIT must show for a scalar that BTF places at `bit_offset` in `bytes`.
std::string expected_value(const btf* b, uint32_t id, const std::string& bytes, uint64_t bit_offset, uint32_t bits) {
  const btf_type* t = resolved(b, &id);
  const size_t size = btf_is_ptr(t) ? 8 : t->size;
  const bool is_bool = btf_is_int(t) && (btf_int_encoding(t) & BTF_INT_BOOL);
  const bool is_char = btf_is_int(t) && std::string(btf__name_by_offset(b, t->name_off)) == "char";
  bool is_signed =
      is_char || (btf_is_int(t) && (btf_int_encoding(t) & BTF_INT_SIGNED)) || (btf_is_any_enum(t) && btf_kflag(t));
  const uint32_t width = bits ? bits : static_cast<uint32_t>(size * 8);
  uint64_t value = 0;
  for (uint32_t i = 0; i < width; ++i) {
    uint64_t bit = bit_offset + i;
    value |= uint64_t((static_cast<uint8_t>(bytes[bit / 8]) >> (bit % 8)) & 1) << i;
  }
  if (is_bool) return value ? "true" : "false";
  if (is_signed && width < 64 && (value >> (width - 1)) & 1) value |= ~uint64_t{0} << width;
  if (bits == 0 && size == 8) return is_signed ? std::to_string(int64_t(value)) + "LL" : std::to_string(value) + "ULL";
  return is_signed ? std::to_string(int64_t(value)) : std::to_string(value);
}

// Walks every scalar reachable from `id` (first and last element of arrays)
// and compares what Lua reads through `path` with the bytes at its BTF offset.
// Paths in `missing` name bitfields LuaJIT cannot express: reading them must fail.
void check_values(Lua& lua, const btf* b, uint32_t id, const std::string& bytes, const std::string& path,
                  uint64_t bit_offset, const std::set<std::string>& missing, int* checked) {
  const btf_type* t = resolved(b, &id);
  if (btf_is_array(t)) {
    const struct btf_array* a = btf_array(t);
    uint32_t elem = a->type;
    const int64_t elem_size = btf__resolve_size(b, elem);
    for (uint32_t i : std::set<uint32_t>{0, a->nelems ? a->nelems - 1 : 0})
      if (i < a->nelems)
        check_values(lua, b, elem, bytes, path + "[" + std::to_string(i) + "]", bit_offset + i * elem_size * 8, missing,
                     checked);
  } else if (btf_is_composite(t) || btf_is_datasec(t)) {
    for (const Field& f : fields_of(b, t)) {
      std::string sub = f.name.empty() ? path : path + "['" + f.name + "']";  // ['in']: Lua keywords are fine
      if (missing.count(sub)) {
        CHECK(lua.eval("return p" + sub).rfind("error:", 0) == 0);
      } else if (f.bits) {
        INFO("p" << sub);
        CHECK(lua.eval("return p" + sub) == expected_value(b, f.type, bytes, bit_offset + f.bit_offset, f.bits));
        ++*checked;
      } else {
        check_values(lua, b, f.type, bytes, sub, bit_offset + f.bit_offset, missing, checked);
      }
    }
  } else if (btf_is_int(t) && t->size == 16) {  // __int128 is two uint64_t in LuaJIT
    for (int i = 0; i < 2; ++i) {
      uint64_t half = 0;
      std::memcpy(&half, bytes.data() + bit_offset / 8 + i * 8, 8);
      CHECK(lua.eval("return p" + path + "[" + std::to_string(i) + "]") == std::to_string(half) + "ULL");
      ++*checked;
    }
  } else if (btf_is_int(t) || btf_is_any_enum(t) || btf_is_ptr(t)) {
    INFO("p" << path);
    CHECK(lua.eval("return p" + path) == expected_value(b, id, bytes, bit_offset, 0));
    ++*checked;
  }
}

std::string pattern(size_t size) {
  std::string bytes(size, '\0');
  for (size_t i = 0; i < size; ++i) bytes[i] = static_cast<char>((i * 37 + 11) & 0xff);
  return bytes;
}

// Declares `c_name`, runs the cdef in Lua and checks size, offsets and values.
types::FfiType check_type(Lua& lua, FfiDeclarer& declarer, const btf* b, const std::string& c_name,
                          const std::set<std::string>& missing = {}) {
  INFO(c_name);
  auto id = types::find_type(b, c_name);
  REQUIRE(id);
  auto type = declarer.declare(b, *id);
  INFO((type ? type->cdef : type.error()));
  REQUIRE(type);
  REQUIRE(lua.cdef(type->cdef) == "ok");
  const int64_t btf_size = btf__resolve_size(b, *id);
  REQUIRE(btf_size >= 0);
  CHECK(type->size == static_cast<size_t>(btf_size));
  CHECK(lua.eval("return ffi.sizeof('" + type->type_name + "')") == std::to_string(btf_size));
  int offsets = 0, values = 0;
  check_offsets(lua, b, *id, type->type_name, 0, &offsets);
  std::string bytes = pattern(static_cast<size_t>(btf_size));
  lua.point_at(type->type_name, bytes);
  check_values(lua, b, *id, bytes, "", 0, missing, &values);
  const btf_type* t = btf__type_by_id(b, *id);
  if (btf_is_composite(t) || btf_is_datasec(t)) CHECK(offsets + values > 0);
  return *type;
}

}  // namespace

TEST_CASE("every kind of BTF type gets a LuaJIT declaration with the exact BTF layout", "[btf_ffi]") {
  auto object = open_object(kTypes);
  const btf* b = bpf_object__btf(object.raw());
  Lua lua;
  FfiDeclarer declarer("ebpfrun_o1_");
  for (const char* name : {"struct t_event", "struct t_inner", "struct t_packed", "struct t_packed_nested",
                           "struct t_aligned", "struct t_holds_aligned", "struct t_node", "union t_union", "t_anon_td",
                           "struct t_flex", "struct t_wide", ".bss", ".maps"}) {
    SECTION(name) { check_type(lua, declarer, b, name, {"['g_bits']['big']"}); }
  }
}

TEST_CASE("names, typedefs, enums, pointers and padding are spelled as documented", "[btf_ffi]") {
  auto object = open_object(kTypes);
  const btf* b = bpf_object__btf(object.raw());
  FfiDeclarer declarer("ebpfrun_o1_");
  auto type_name = [&](const char* c_name) {
    auto type = declarer.declare_by_name(b, c_name);
    INFO(c_name << ": " << (type ? "" : type.error()));
    REQUIRE(type);
    return type->type_name;
  };
  CHECK(type_name("struct t_event") == "struct ebpfrun_o1_t_event");
  CHECK(type_name("union t_union") == "union ebpfrun_o1_t_union");
  CHECK(type_name("t_count_t") == "uint32_t");
  CHECK(type_name("__u32") == "uint32_t");
  CHECK(type_name("enum t_kind") == "int32_t");
  CHECK(type_name("enum t_big") == "uint64_t");
  CHECK(type_name("enum t_small") == "uint8_t");
  CHECK(type_name("t_anon_td") == "ebpfrun_o1_t_anon_td");
  CHECK(type_name(".bss") == "struct ebpfrun_o1_sec_bss");

  FfiDeclarer fresh("ebpfrun_o9_");
  auto node = fresh.declare_by_name(b, "struct t_node");
  REQUIRE(node);
  CHECK(node->cdef == "struct ebpfrun_o9_t_node {\n    uint64_t next;\n    uint32_t value;\n};\n");
  auto packed = fresh.declare_by_name(b, "struct t_packed");
  REQUIRE(packed);
  CHECK(packed->cdef.find("struct __attribute__((packed)) ebpfrun_o9_t_packed {") == 0);
  auto aligned = fresh.declare_by_name(b, "struct t_aligned");
  REQUIRE(aligned);
  CHECK(aligned->cdef.find("uint8_t __pad_1[15];") != std::string::npos);
  auto holds = fresh.declare_by_name(b, "struct t_holds_aligned");
  REQUIRE(holds);
  CHECK(holds->cdef.find("uint8_t __pad_52[12];") != std::string::npos);  // tail padding up to BTF's 64 bytes
  auto event = fresh.declare_by_name(b, "struct t_event");
  REQUIRE(event);
  CHECK(event->cdef.find("char comm[16];") != std::string::npos);
  CHECK(event->cdef.find("uint64_t grid[2][3];") != std::string::npos);
  CHECK(event->cdef.find("uint64_t fn;") != std::string::npos);
  CHECK(event->cdef.find("struct ebpfrun_o9_t_inner inners[3];") != std::string::npos);

  auto kinds = types::enum_values(b, *types::find_type(b, "enum t_kind"));
  REQUIRE(kinds);
  CHECK(*kinds == std::vector<std::pair<std::string, int64_t>>{{"T_KIND_A", 1}, {"T_KIND_B", 7}, {"T_KIND_NEG", -3}});
  auto big = types::enum_values(b, *types::find_type(b, "enum t_big"));
  REQUIRE(big);
  REQUIRE(big->size() == 2);
  CHECK(static_cast<uint64_t>((*big)[1].second) == 0xfedcba9876543210ULL);
  auto small = types::enum_values(b, *types::find_type(b, "enum t_small"));
  REQUIRE(small);
  CHECK((*small)[1] == std::pair<std::string, int64_t>{"T_SMALL_Y", 200});
  CHECK_FALSE(types::enum_values(b, *types::find_type(b, "struct t_node")));
}

TEST_CASE("bitfields read back what C++ wrote with clang's layout", "[btf_ffi]") {
  auto object = open_object(kTypes);
  const btf* b = bpf_object__btf(object.raw());
  Lua lua;
  FfiDeclarer declarer("ebpfrun_o1_");
  auto bits = check_type(lua, declarer, b, "struct t_bits", {"['big']"});
  struct Mirror {
    unsigned int a : 3;
    unsigned int b : 5;
    int c : 4;
    unsigned int d : 20;
    uint8_t e;
    unsigned long long big : 40;
    unsigned long long g : 12;
    bool flag : 1;
    int k : 4;
  } m{};
  REQUIRE(sizeof(Mirror) == bits.size);
  m.a = 5, m.b = 17, m.c = -3, m.d = 0xABCDE, m.e = 200, m.big = 0x123456789AULL, m.g = 0x9AB, m.flag = true, m.k = -3;
  lua.point_at(bits.type_name, std::string(reinterpret_cast<const char*>(&m), sizeof(m)));
  CHECK(lua.eval("return table.concat({p.a, p.b, p.c, p.d, p.e, p.g, tostring(p.flag), p.k}, ' ')") ==
        "5 17 -3 703710 200 2475 true -3");
  CHECK(lua.eval("return p.big").rfind("error:", 0) == 0);  // 40-bit bitfield: beyond LuaJIT, left as padding

  struct __attribute__((packed)) PackedMirror {
    uint8_t a;
    uint32_t b;
    uint16_t c;
    uint64_t d;
  } pm{7, 0xDEADBEEF, 0xBEEF, 0x0123456789ABCDEFULL};
  auto packed = check_type(lua, declarer, b, "struct t_packed");
  REQUIRE(sizeof(pm) == packed.size);
  lua.point_at(packed.type_name, std::string(reinterpret_cast<const char*>(&pm), sizeof(pm)));
  CHECK(lua.eval("return table.concat({p.a, p.b, p.c, tostring(p.d)}, ' ')") ==
        "7 3735928559 48879 81985529216486895ULL");
}

TEST_CASE("char arrays work with ffi.string and pointers are plain numbers", "[btf_ffi]") {
  auto object = open_object(kTypes);
  const btf* b = bpf_object__btf(object.raw());
  Lua lua;
  FfiDeclarer declarer("ebpfrun_o1_");
  auto event = declarer.declare_by_name(b, "struct t_event");
  REQUIRE(event);
  REQUIRE(lua.cdef(event->cdef) == "ok");
  CHECK(lua.eval("local e = ffi.new('" + event->type_name +
                 "') ffi.copy(e.comm, 'hello') e.ptr = 0xffff888012345678ULL "
                 "return ffi.string(e.comm) .. ' ' .. tostring(e.ptr)") == "hello 18446612682375452280ULL");
}

TEST_CASE("declaring again returns no cdef, and two objects' `struct event` coexist", "[btf_ffi]") {
  auto one = open_object(event_source("__u32 pid; char comm[16];"));
  auto two = open_object(event_source("__u64 ts; __u8 cpu; __u16 flags[3];"));
  const btf* b1 = bpf_object__btf(one.raw());
  const btf* b2 = bpf_object__btf(two.raw());
  Lua lua;
  FfiDeclarer d1("ebpfrun_o1_"), d2("ebpfrun_o2_");
  auto e1 = d1.declare_by_name(b1, "struct event");
  auto e2 = d2.declare_by_name(b2, "struct event");
  REQUIRE(e1);
  REQUIRE(e2);
  REQUIRE(lua.cdef(e1->cdef) == "ok");
  REQUIRE(lua.cdef(e2->cdef) == "ok");
  CHECK(lua.eval("return ffi.sizeof('" + e1->type_name + "') .. ' ' .. ffi.sizeof('" + e2->type_name + "')") ==
        "20 16");
  CHECK(lua.eval("return ffi.offsetof('" + e2->type_name + "', 'flags')") == "10");

  auto again = d1.declare_by_name(b1, "struct event");
  REQUIRE(again);
  CHECK(again->cdef.empty());
  CHECK(again->type_name == e1->type_name);
  auto datasec = d1.declare_by_name(b1, ".bss");  // contains the already declared struct event
  REQUIRE(datasec);
  CHECK(datasec->cdef.find("struct ebpfrun_o1_event {") == std::string::npos);
  CHECK(lua.cdef(datasec->cdef) == "ok");
  CHECK(lua.eval("return ffi.offsetof('" + datasec->type_name + "', 'g_event')") == "0");

  // Declaring the raw C again without the declarer's memory is exactly what it prevents.
  CHECK(lua.cdef(e1->cdef).rfind("error:", 0) == 0);
}

TEST_CASE("unknown names, non-data types and a foreign BTF are clear errors", "[btf_ffi]") {
  auto object = open_object(kTypes);
  auto other = open_object(event_source("__u32 pid;"));
  const btf* b = bpf_object__btf(object.raw());
  FfiDeclarer declarer("ebpfrun_o1_");
  auto missing = declarer.declare_by_name(b, "struct t_nope");
  REQUIRE_FALSE(missing);
  CHECK(missing.error().find("no type 'struct t_nope'") != std::string::npos);
  auto func = declarer.declare(b, static_cast<uint32_t>(btf__find_by_name_kind(b, "t_prog", BTF_KIND_FUNC)));
  REQUIRE_FALSE(func);
  CHECK(func.error().find("is a function") != std::string::npos);
  CHECK_FALSE(declarer.declare(b, btf__type_cnt(b)));
  REQUIRE(declarer.declare_by_name(b, "struct t_inner"));
  auto twin = open_object(kTypes);  // the same ELF opened again (as a load retry does) is the same BTF
  auto again = declarer.declare_by_name(bpf_object__btf(twin.raw()), "struct t_inner");
  REQUIRE(again);
  CHECK(again->cdef.empty());
  auto foreign = declarer.declare_by_name(bpf_object__btf(other.raw()), "struct event");
  REQUIRE_FALSE(foreign);
  CHECK(foreign.error().find("one declarer per object") != std::string::npos);
}

// Maps on the real kernel: typed metadata, lookup/update/delete/iterate, batch
// reads, per-CPU values, LRU eviction and pinning (runtime/maps/), and that
// nothing of ours stays in the kernel afterwards.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <cstring>

#include "common/files.h"
#include "loader/object.h"
#include "maps/map.h"
#include "support/test_support.h"

using namespace ebpfrun;

namespace {

constexpr const char* kMaps = R"(#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 64); __type(key, __u32); __type(value, __u64); } maps_hash SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 8); __type(key, __u32); __type(value, __u64); } maps_array SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); __uint(max_entries, 2); __type(key, __u32); __type(value, __u64); } maps_percpu SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_LRU_HASH); __uint(max_entries, 16); __type(key, __u32); __type(value, __u64); } maps_lru SEC(".maps");
SEC("tracepoint/syscalls/sys_enter_getppid")
int maps_prog(void *ctx) { return 0; }
char LICENSE[] SEC("license") = "GPL";
)";

std::string pinned_source(unsigned entries) {
  return "#include \"vmlinux.h\"\n#include <bpf/bpf_helpers.h>\n"
         "struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, " +
         std::to_string(entries) +
         "); __type(key, __u32); __type(value, __u64); __uint(pinning, LIBBPF_PIN_BY_NAME); } maps_pinned "
         "SEC(\".maps\");\n"
         "SEC(\"tracepoint/syscalls/sys_enter_getppid\") int maps_pin_prog(void *ctx) { return 0; }\n"
         "char LICENSE[] SEC(\"license\") = \"GPL\";\n";
}

std::string u32(uint32_t v) { return std::string(reinterpret_cast<const char*>(&v), 4); }
std::string u64(uint64_t v) { return std::string(reinterpret_cast<const char*>(&v), 8); }
uint64_t as_u64(const std::string& s) {
  uint64_t v = 0;
  std::memcpy(&v, s.data(), 8);
  return v;
}

maps::Map map_of(const loader::Object& object, const char* name) {
  auto map = maps::Map::from_object_map(object.find_map(name), bpf_object__btf(object.raw()));
  REQUIRE(map);
  return std::move(map).value();
}

}  // namespace

TEST_CASE("hash, array, per-CPU and LRU maps: lookup, update, delete, iterate, batch", "[maps][kernel]") {
  if (!test::have_root()) return;
  test::TempDir dir;
  auto object = loader::Object::open(test::compile_bpf(kMaps, dir, "maps.bpf.c"), "maps");
  REQUIRE(object);
  REQUIRE(object->load());

  SECTION("hash") {
    auto hash = map_of(*object, "maps_hash");
    CHECK(hash.info().type_name == "hash");
    CHECK(hash.info().key_size == 4);
    CHECK(hash.info().max_entries == 64);
    CHECK(hash.info().btf_key_type_id > 0);
    for (uint32_t k = 1; k <= 10; ++k) REQUIRE(hash.update(u32(k), u64(k * 100)));
    auto v = hash.lookup(u32(7));
    REQUIRE(v);
    REQUIRE(v->has_value());
    CHECK(as_u64(**v) == 700);
    CHECK_FALSE(hash.lookup(u32(99))->has_value());
    CHECK_FALSE(hash.update(u32(7), u64(1), BPF_NOEXIST));
    CHECK(*hash.erase(u32(7)));
    CHECK_FALSE(*hash.erase(u32(7)));
    CHECK(hash.keys()->size() == 9);
    CHECK(*hash.count() == 9);
    auto all = hash.entries();
    REQUIRE(all);
    REQUIRE(all->size() == 9);
    uint64_t sum = 0;
    for (const auto& e : *all) sum += as_u64(e.value);
    CHECK(sum == 5500 - 700);
    auto drained = hash.entries(/*and_delete=*/true);
    REQUIRE(drained);
    CHECK(drained->size() == 9);
    CHECK(hash.keys()->empty());
    CHECK(*hash.count() == 0);
    for (uint32_t k = 0; k < 64; ++k) REQUIRE(hash.update(u32(k), u64(k)));
    CHECK(*hash.count() == 64);                              // a full map, counted in one batch
    CHECK_FALSE(hash.update(u32(1), std::string("short")));  // wrong value size
  }
  SECTION("array: entries and reset by zeroing") {
    auto array = map_of(*object, "maps_array");
    REQUIRE(array.update(u32(3), u64(42)));
    auto all = array.entries();
    REQUIRE(all);
    CHECK(all->size() == 8);
    auto reset = array.entries(/*and_delete=*/true);
    REQUIRE(reset);
    CHECK(as_u64(*(*array.lookup(u32(3)))) == 0);
    CHECK_FALSE(array.erase(u32(3)));  // arrays cannot delete: a clear error
  }
  SECTION("per-CPU array: a value per CPU, summed") {
    auto percpu = map_of(*object, "maps_percpu");
    CHECK(percpu.info().per_cpu);
    const int cpus = maps::Map::possible_cpus();
    std::string values;
    for (int c = 0; c < cpus; ++c) values += u64(c + 1);
    REQUIRE(percpu.update(u32(1), values));
    auto got = percpu.lookup(u32(1));
    REQUIRE(got);
    REQUIRE((*got)->size() == static_cast<size_t>(8 * cpus));
    CHECK(percpu.sum_per_cpu_u64(**got) == std::vector<uint64_t>{static_cast<uint64_t>(cpus * (cpus + 1) / 2)});
  }
  SECTION("LRU hash evicts instead of failing when full") {
    auto lru = map_of(*object, "maps_lru");
    for (uint32_t k = 0; k < 64; ++k) REQUIRE(lru.update(u32(k), u64(k)));
    CHECK(lru.keys()->size() <= 16);
    CHECK(*lru.count() == lru.keys()->size());
  }
  object->close();
  CHECK_FALSE(test::kernel_has_map("maps_hash"));
  CHECK_FALSE(test::kernel_has_program("maps_prog"));
}

TEST_CASE("a pinned map outlives its object, is reused, and an incompatible pin is refused", "[maps][kernel]") {
  if (!test::have_root()) return;
  test::TempDir dir;
  loader::OpenOptions options;
  options.pin_namespace = "test-" + std::to_string(::getpid());
  const std::string pin = "/sys/fs/bpf/ebpfrun/" + options.pin_namespace + "/maps_pinned";
  const std::string elf = test::compile_bpf(pinned_source(32), dir, "pinned.bpf.c");
  {
    auto first = loader::Object::open(elf, "pinned", options);
    REQUIRE(first);
    REQUIRE(first->load());
    REQUIRE(map_of(*first, "maps_pinned").update(u32(5), u64(55)));
    CHECK(first->maps().front().pin_path == pin);
  }
  REQUIRE(files::exists(pin));
  {
    auto pinned = maps::Map::open_pinned(pin);
    REQUIRE(pinned);
    CHECK(as_u64(**pinned->lookup(u32(5))) == 55);
  }
  {
    auto second = loader::Object::open(elf, "pinned", options);
    REQUIRE(second);
    REQUIRE(second->load());
    CHECK(as_u64(**map_of(*second, "maps_pinned").lookup(u32(5))) == 55);
  }
  {
    auto incompatible =
        loader::Object::open(test::compile_bpf(pinned_source(64), dir, "pinned2.bpf.c"), "pinned", options);
    REQUIRE(incompatible);
    auto loaded = incompatible->load();
    REQUIRE_FALSE(loaded);
    CHECK(loaded.error().find("does not match map 'maps_pinned'") != std::string::npos);
    CHECK(loaded.error().find("32 entries") != std::string::npos);
    CHECK(loaded.error().find("64 entries") != std::string::npos);
    CHECK(loaded.error_kind() == ErrorKind::busy);
  }
  REQUIRE(maps::Map::unpin(pin));
  ::rmdir(("/sys/fs/bpf/ebpfrun/" + options.pin_namespace).c_str());
  CHECK_FALSE(files::exists(pin));
  CHECK_FALSE(test::kernel_has_map("maps_pinned"));
  CHECK_FALSE(test::kernel_has_program("maps_pin_prog"));
}

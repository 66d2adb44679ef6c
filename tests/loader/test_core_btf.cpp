// The CO-RE cut of the kernel BTF (runtime/loader/core_btf.h), read from the
// kernel's BTF held once in memory (internal/raw_btf.h) and written as a raw
// BTF of its own: libbpf must take it, every type in it must be the kernel's
// type of that name, and each prebuilt object must load against it.
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "btf/internal/btf_file.h"
#include "btf/vmlinux_header.h"
#include "common/libbpf_log.h"
#include "loader/core_btf.h"
#include "loader/internal/raw_btf.h"
#include "support/test_support.h"

using namespace ebpfrun;
using loader::detail::RawBtf;

namespace {

std::string slurp(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream out;
  out << in.rdbuf();
  return out.str();
}

// "kind name" of a type, through its modifiers and typedefs' own names.
std::string describe(const struct btf* b, uint32_t id) {
  const struct btf_type* t = btf__type_by_id(b, id);
  if (!t) return "void";
  return std::to_string(btf_kind(t)) + " " + btf__name_by_offset(b, t->name_off);
}

// Compares a type of the cut with the kernel's of the same id-independent
// identity: kind, name, size, and each member's name, offset and type.
void check_same_type(const struct btf* cut, uint32_t cut_id, const struct btf* kernel) {
  const struct btf_type* c = btf__type_by_id(cut, cut_id);
  const std::string name = btf__name_by_offset(cut, c->name_off);
  INFO("type " << name << " (kind " << btf_kind(c) << ")");
  const int kernel_id = btf__find_by_name_kind(kernel, name.c_str(), btf_kind(c));
  REQUIRE(kernel_id > 0);
  const struct btf_type* k = btf__type_by_id(kernel, kernel_id);
  CHECK(btf_vlen(c) == btf_vlen(k));
  if (btf_is_composite(c) || btf_is_any_enum(c) || btf_is_int(c)) CHECK(c->size == k->size);
  if (btf_is_composite(c) && btf_vlen(c) == btf_vlen(k)) {
    for (int i = 0; i < btf_vlen(c); ++i) {
      const struct btf_member* cm = btf_members(c) + i;
      const struct btf_member* km = btf_members(k) + i;
      INFO("member " << i);
      CHECK(std::string(btf__name_by_offset(cut, cm->name_off)) == btf__name_by_offset(kernel, km->name_off));
      CHECK(cm->offset == km->offset);
      // Pointers point to void in the cut; everything else is the kernel's.
      const struct btf_type* ct = btf__type_by_id(cut, cm->type);
      if (!btf_is_ptr(ct)) CHECK(describe(cut, cm->type) == describe(kernel, km->type));
    }
  }
  if (btf_is_enum(c) && btf_vlen(c) == btf_vlen(k))
    for (int i = 0; i < btf_vlen(c); ++i)
      CHECK(std::string(btf__name_by_offset(cut, btf_enum(c)[i].name_off)) ==
            btf__name_by_offset(kernel, btf_enum(k)[i].name_off));
}

}  // namespace

TEST_CASE("a raw BTF that is malformed is refused, not read past its end", "[loader]") {
  auto kernel = RawBtf::read(types::kKernelBtfPath);
  REQUIRE(kernel);
  CHECK(kernel->count() > 1000);
  std::string bytes = slurp(types::kKernelBtfPath);
  // Mapped (sysfs BTF since Linux 6.16) or read, it is the file's content,
  // and hashing it in memory gives what hashing the file block by block
  // does (the compiler's cache keys and the loader's cuts agree).
  CHECK(kernel->bytes() == bytes);
  int fd = ::open(types::kKernelBtfPath, O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  uint64_t streamed_bytes = 0;
  auto streamed = types::detail::hash_btf_stream(fd, &streamed_bytes);
  ::close(fd);
  REQUIRE(streamed);
  CHECK(streamed_bytes == bytes.size());
  CHECK(*streamed == types::hash_btf(kernel->bytes()));
  CHECK_FALSE(RawBtf::parse(bytes.substr(0, 20)));                  // a short header
  CHECK_FALSE(RawBtf::parse(bytes.substr(0, bytes.size() - 100)));  // strings cut short
  std::string bad_magic = bytes;
  bad_magic[0] = 0;
  CHECK_FALSE(RawBtf::parse(bad_magic));
  // The first type's kind set to one past the last known (info bits 24-28).
  std::string bad_kind = bytes;
  bad_kind[24 + 4 + 3] = static_cast<char>(0x1f);
  CHECK_FALSE(RawBtf::parse(bad_kind));
  CHECK_FALSE(RawBtf::read("/nonexistent/btf"));
}

// Files other than sysfs's are read, not mapped; one of no stated size (a
// pipe) grows the buffer as it goes.
TEST_CASE("a BTF in a regular file or a pipe is read whole", "[loader]") {
  const std::string bytes = slurp(types::kKernelBtfPath);
  test::TempDir dir;
  dir.write("copy.btf", bytes);
  auto copy = RawBtf::read(dir.file("copy.btf"));
  REQUIRE(copy);
  CHECK(copy->bytes() == bytes);
  const std::string fifo = dir.file("pipe.btf");
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  std::thread writer([&] {
    int fd = ::open(fifo.c_str(), O_WRONLY | O_CLOEXEC);
    for (size_t at = 0; fd >= 0 && at < bytes.size();) {
      ssize_t n = ::write(fd, bytes.data() + at, bytes.size() - at);
      if (n <= 0) break;
      at += static_cast<size_t>(n);
    }
    if (fd >= 0) ::close(fd);
  });
  auto piped = RawBtf::read(fifo);
  writer.join();
  REQUIRE(piped);
  CHECK(piped->bytes() == bytes);
  CHECK(piped->count() == copy->count());
  // A moved-from view is an empty one.
  RawBtf moved = std::move(*piped);
  CHECK(moved.bytes() == bytes);
  CHECK(piped->bytes().empty());
  CHECK(piped->count() == 0);
}

TEST_CASE("the CO-RE cut of each prebuilt object holds the kernel's own types and loads it", "[loader][kernel]") {
  if (!test::have_root()) return;
  log::route_libbpf_messages();  // not libbpf's own printing to stderr
  auto raw = RawBtf::read(types::kKernelBtfPath);
  REQUIRE(raw);
  struct btf* kernel = btf__load_vmlinux_btf();
  REQUIRE(kernel);
  const auto prebuilt = std::filesystem::path(test::ebpfrun_binary()).parent_path() / "prebuilt";
  int cuts = 0;
  for (const auto& entry : std::filesystem::directory_iterator(prebuilt)) {
    if (entry.path().extension() != ".o") continue;
    const std::string elf = slurp(entry.path());
    std::string why;
    const std::string cut = loader::minimal_core_btf(elf, *raw, &why);
    INFO(entry.path().filename().string() << ": " << why);
    if (cut.empty()) continue;  // no CO-RE relocations, or fentry programs
    ++cuts;
    struct btf* parsed = btf__new(cut.data(), static_cast<uint32_t>(cut.size()));
    REQUIRE(parsed);
    CHECK(btf__type_cnt(parsed) < btf__type_cnt(kernel) / 10);
    for (uint32_t id = 1; id < btf__type_cnt(parsed); ++id) {
      const struct btf_type* t = btf__type_by_id(parsed, id);
      if (t->name_off && (btf_is_composite(t) || btf_is_any_enum(t) || btf_is_typedef(t) || btf_is_int(t)))
        check_same_type(parsed, id, kernel);
    }
    btf__free(parsed);
    // Straight through libbpf: Object::load would retry against the whole
    // kernel BTF should the cut fail.
    test::TempDir dir;
    dir.write("cut.btf", cut);
    const std::string cut_path = dir.file("cut.btf");
    LIBBPF_OPTS(bpf_object_open_opts, opts, .btf_custom_path = cut_path.c_str());
    bpf_object* object = bpf_object__open_mem(elf.data(), elf.size(), &opts);
    REQUIRE(object);
    CHECK(bpf_object__load(object) == 0);
    bpf_object__close(object);
  }
  btf__free(kernel);
  CHECK(cuts >= 8);
}

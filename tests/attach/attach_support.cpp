#include "attach/attach_support.h"

#include <bpf/bpf.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <cstring>
#include <thread>

#include "build/build.h"
#include "compiler/compiler.h"
#include "support/test_support.h"

namespace ebpfrun::test::attach {

void set_target_pid(std::string& elf, uint32_t pid) {
  auto set =
      build::set_elf_global(elf, "target_pid", std::string_view(reinterpret_cast<const char*>(&pid), sizeof pid));
  INFO((set ? std::string() : set.error()));
  REQUIRE(set);
}

loader::Object load_test_object(const std::string& file, uint32_t target_pid) {
  compiler::CompileOptions options;  // the default cache (the build tree's, under ctest)
  auto out = compiler::compile_file(source_dir() + "/tests/data/attach/" + file, options);
  INFO(out.error_message());
  REQUIRE(out.ok());
  if (target_pid != 0) set_target_pid(out.object, target_pid);
  std::string name = std::string(kPrefix) + file.substr(0, file.find('.'));
  auto object = loader::Object::open(out.object, name);
  REQUIRE(object);
  auto loaded = object->load();
  INFO((loaded ? std::string() : loaded.error()));
  REQUIRE(loaded);
  return std::move(object).value();
}

bpf_program* program(const loader::Object& object, const char* name) {
  bpf_program* p = bpf_object__find_program_by_name(object.raw(), name);
  REQUIRE(p != nullptr);
  return p;
}

bpf_map* map(const loader::Object& object, const char* name) {
  bpf_map* m = bpf_object__find_map_by_name(object.raw(), name);
  REQUIRE(m != nullptr);
  return m;
}

KernelIds kernel_ids(const loader::Object& object) {
  KernelIds ids;
  bpf_program* prog;
  // Programs not loaded (switched off, or optional and refused) have no id.
  bpf_object__for_each_program(prog, object.raw()) if (bpf_program__fd(prog) >= 0)
      ids.programs.emplace_back(program_id(prog), bpf_program__name(prog));
  bpf_map* m;
  bpf_object__for_each_map(m, object.raw()) {
    bpf_map_info info{};
    uint32_t length = sizeof info;
    REQUIRE(bpf_obj_get_info_by_fd(bpf_map__fd(m), &info, &length) == 0);
    ids.maps.emplace_back(info.id, bpf_map__name(m));
  }
  return ids;
}

std::vector<std::string> leftovers(const KernelIds& ids) {
  std::vector<std::string> left;
  for (int attempt = 0; attempt < 40; ++attempt) {
    left.clear();
    for (const auto& [id, name] : ids.programs)
      if (int fd = bpf_prog_get_fd_by_id(id); fd >= 0) {
        ::close(fd);
        left.push_back("program " + name);
      }
    for (const auto& [id, name] : ids.maps)
      if (int fd = bpf_map_get_fd_by_id(id); fd >= 0) {
        ::close(fd);
        left.push_back("map " + name);
      }
    if (left.empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return left;
}

uint32_t program_id(bpf_program* program) {
  bpf_prog_info info{};
  uint32_t length = sizeof info;
  REQUIRE(bpf_obj_get_info_by_fd(bpf_program__fd(program), &info, &length) == 0);
  return info.id;
}

int links_of_program(uint32_t prog_id) {
  int count = 0;
  uint32_t id = 0;
  while (bpf_link_get_next_id(id, &id) == 0) {
    int fd = bpf_link_get_fd_by_id(id);
    if (fd < 0) continue;
    bpf_link_info info{};
    uint32_t length = sizeof info;
    if (bpf_obj_get_info_by_fd(fd, &info, &length) == 0 && info.prog_id == prog_id) ++count;
    ::close(fd);
  }
  return count;
}

std::map<long, Seen> read_seen(bpf_map* map) {
  std::map<long, Seen> out;
  int fd = bpf_map__fd(map);
  long key = 0, next = 0;
  long* previous = nullptr;
  while (bpf_map_get_next_key(fd, previous, &next) == 0) {
    Seen seen{};
    if (bpf_map_lookup_elem(fd, &next, &seen) == 0) out[next] = seen;
    key = next;
    previous = &key;
  }
  return out;
}

std::map<uint32_t, uint64_t> read_counts(bpf_map* map) {
  std::map<uint32_t, uint64_t> out;
  int fd = bpf_map__fd(map);
  uint32_t key = 0, next = 0;
  uint32_t* previous = nullptr;
  while (bpf_map_get_next_key(fd, previous, &next) == 0) {
    uint64_t value = 0;
    if (bpf_map_lookup_elem(fd, &next, &value) == 0) out[next] = value;
    key = next;
    previous = &key;
  }
  return out;
}

std::string Target::path() { return EBPFRUN_ATTACH_TARGET; }

Target::Target(const std::vector<std::string>& args) {
  int in[2], out[2];
  REQUIRE(::pipe2(in, O_CLOEXEC) == 0);
  REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
  std::vector<std::string> argv = {path()};
  argv.insert(argv.end(), args.begin(), args.end());
  pid_ = ::fork();
  REQUIRE(pid_ >= 0);
  if (pid_ == 0) {
    ::dup2(in[0], 0);
    ::dup2(out[1], 1);
    std::vector<char*> raw;
    for (auto& a : argv) raw.push_back(a.data());
    raw.push_back(nullptr);
    ::execv(raw[0], raw.data());
    ::_exit(127);
  }
  ::close(in[0]);
  ::close(out[1]);
  to_child_ = in[1];
  from_child_ = out[0];
  // Wait for "ready": the process has exec'ed and is blocked before its work.
  std::string line;
  char c;
  while (line.find('\n') == std::string::npos && ::read(from_child_, &c, 1) == 1) line += c;
  REQUIRE(line == "ready\n");
}

void Target::go() { REQUIRE(::write(to_child_, "\n", 1) == 1); }

int Target::wait() {
  char buf[256];
  ssize_t n;
  while ((n = ::read(from_child_, buf, sizeof buf)) > 0) output_.append(buf, static_cast<size_t>(n));
  int status = 0;
  REQUIRE(::waitpid(pid_, &status, 0) == pid_);
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

Target::~Target() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  if (to_child_ >= 0) ::close(to_child_);
  if (from_child_ >= 0) ::close(from_child_);
}

}  // namespace ebpfrun::test::attach

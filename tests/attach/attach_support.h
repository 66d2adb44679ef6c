// Helpers for the attach integration tests: compiling and loading the test
// programs in tests/data/attach, driving the attach_target test binary, reading
// maps, and checking that nothing of ours is left in the kernel.
#pragma once

#include <bpf/libbpf.h>
#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "loader/object.h"

namespace ebpfrun::test::attach {

// Every program and map the attach tests create is named with this prefix.
inline constexpr const char* kPrefix = "att_";

// Compiles tests/data/attach/<file> and loads it; a target_pid other than 0
// is written into the object's `target_pid` global first.
loader::Object load_test_object(const std::string& file, uint32_t target_pid = 0);

// Writes pid into the `target_pid` global of a compiled object.
void set_target_pid(std::string& elf, uint32_t pid);

bpf_program* program(const loader::Object& object, const char* name);
bpf_map* map(const loader::Object& object, const char* name);

// The kernel ids of an object's programs and maps. Ids are not reused soon, so
// checking them by id stays exact while other tests run in parallel.
struct KernelIds {
  std::vector<std::pair<uint32_t, std::string>> programs;
  std::vector<std::pair<uint32_t, std::string>> maps;
};
KernelIds kernel_ids(const loader::Object& object);
// Waits briefly (the kernel frees some objects after an RCU grace period) and
// then names those of `ids` still alive: empty when the test cleaned up. Links
// hold their program, so a leaked link shows up as a leaked program.
std::vector<std::string> leftovers(const KernelIds& ids);

// Number of kernel BPF links whose program has id `prog_id`.
int links_of_program(uint32_t prog_id);
uint32_t program_id(bpf_program* program);

// A hash map of long -> {u32 pid; long value} as the uprobe test programs keep.
struct Seen {
  uint32_t pid;
  long value;
};
std::map<long, Seen> read_seen(bpf_map* map);
// A hash or array map of u32 -> u64.
std::map<uint32_t, uint64_t> read_counts(bpf_map* map);

// The attach_target binary (tests/data/attach/target.c) as a child process. It
// prints "ready" and waits for go() before doing its work.
class Target {
 public:
  explicit Target(const std::vector<std::string>& args);
  ~Target();
  Target(const Target&) = delete;
  Target& operator=(const Target&) = delete;
  pid_t pid() const { return pid_; }
  void go();
  // Waits for the process to exit; returns its exit code and keeps its output.
  int wait();
  const std::string& output() const { return output_; }
  static std::string path();

 private:
  pid_t pid_ = -1;
  int to_child_ = -1;
  int from_child_ = -1;
  std::string output_;
};

}  // namespace ebpfrun::test::attach

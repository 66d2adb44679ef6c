// runtime/system — what a run owns in the kernel, as the kernel sees it.
//
// Given the program, map and link fds (or kernel ids) a run created, this asks
// the kernel (BPF_OBJ_GET_INFO_BY_FD) for each one's id, type, name and tag,
// where each program is attached, when it was loaded and, while run-time
// statistics are on (StatsSession, --stats), how often it ran and for how
// long. It is what `--stats` prints at the end of a run and what a person
// compares with `bpftool prog show`.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"
#include "system/link_info.h"

namespace ebpfrun::system {

// What a run owns. Fds are borrowed (never closed here); ids are opened for
// the query and closed again, which needs CAP_SYS_ADMIN.
struct OwnedObjects {
  std::vector<int> program_fds;
  std::vector<int> map_fds;
  std::vector<int> link_fds;
  std::vector<uint32_t> program_ids;
  std::vector<uint32_t> map_ids;
  std::vector<uint32_t> link_ids;
};

struct ProgramReport {
  uint32_t id = 0;
  std::string type;  // "tracepoint", "kprobe", ...
  // The function's full name from the program's BTF; the kernel's own copy
  // (used when there is no BTF) is cut to 15 characters.
  std::string name;
  std::string tag;  // 16 hex digits, as bpftool prints it
  std::chrono::system_clock::time_point loaded_at;
  // Counted only while run-time statistics are enabled; 0 otherwise.
  uint64_t run_count = 0;
  uint64_t run_time_ns = 0;
  uint64_t recursion_misses = 0;  // runs skipped because the program was already running on that CPU
  uint32_t verified_instructions = 0;
  std::vector<uint32_t> map_ids;
  // From the links in the same set that point at this program.
  std::vector<std::string> attach_points;
};

struct MapReport {
  uint32_t id = 0;
  std::string type;  // "hash", "ringbuf", ...
  std::string name;  // cut to 15 characters by the kernel
  uint32_t key_size = 0;
  uint32_t value_size = 0;
  uint32_t max_entries = 0;
  uint32_t flags = 0;
};

struct Inventory {
  std::vector<ProgramReport> programs;
  std::vector<MapReport> maps;
  std::vector<LinkReport> links;
};

Result<ProgramReport> describe_program(int fd);
Result<MapReport> describe_map(int fd);
// describe_link(int fd) is in link_info.h.

// Everything in `owned`, programs with their attach points filled in from the
// links (a tp_btf program's raw_tracepoint link reads "tp_btf/NAME"). Fails on
// the first object the kernel will not describe.
Result<Inventory> describe(const OwnedObjects& owned);

// A program's load time in wall-clock terms: the kernel reports nanoseconds
// since boot (CLOCK_BOOTTIME).
std::chrono::system_clock::time_point boot_ns_to_wall_clock(uint64_t boot_ns);

// The inventory as aligned text (programs with their run statistics, then
// maps), e.g. for the end of a --stats run.
std::string format_inventory(const Inventory& inventory);

}  // namespace ebpfrun::system

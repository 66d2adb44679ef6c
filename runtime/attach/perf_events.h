// runtime/attach — perf events for BPF_PROG_TYPE_PERF_EVENT programs.
//
// A perf_event spec ("perf_event/cpu-clock:freq=99") names a software or
// hardware event and a sampling rate. The event is opened on every online CPU
// (or, scoped to a process, once for that process) and the program attached to
// each; the returned links own the perf event fds. Hardware events are often
// missing in virtual machines, which gets its own clear error.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "attach/spec.h"
#include "common/result.h"

struct bpf_link;
struct bpf_program;

namespace ebpfrun::attach {

struct PerfEventKind {
  std::string name;
  uint32_t type = 0;  // PERF_TYPE_SOFTWARE or PERF_TYPE_HARDWARE
  uint64_t config = 0;
};

// The event called `name` (perf's names: cpu-clock, page-faults, cycles, …);
// an unknown name gives an error with the nearest known ones.
Result<PerfEventKind> find_perf_event(const std::string& name);

// The online CPUs, from /sys/devices/system/cpu/online.
Result<std::vector<int>> online_cpus();

// Opens spec.event per online CPU (pid < 0) or for process `pid`, and attaches
// `program` to each. On failure nothing stays open or attached.
Result<std::vector<bpf_link*>> attach_perf_event(bpf_program* program, const Spec& spec, int pid);

}  // namespace ebpfrun::attach

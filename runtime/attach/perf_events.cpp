#include "attach/perf_events.h"

#include <bpf/libbpf.h>
#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

#include <fmt/format.h>

#include "attach/nearest.h"
#include "common/log.h"
#include "system/privileges.h"

namespace ebpfrun::attach {
namespace {

struct Known {
  const char* name;
  uint32_t type;
  uint64_t config;
};

constexpr std::array kEvents = {
    Known{"cpu-clock", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_CLOCK},
    Known{"task-clock", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_TASK_CLOCK},
    Known{"page-faults", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_PAGE_FAULTS},
    Known{"faults", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_PAGE_FAULTS},
    Known{"context-switches", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CONTEXT_SWITCHES},
    Known{"cs", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CONTEXT_SWITCHES},
    Known{"cpu-migrations", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_MIGRATIONS},
    Known{"migrations", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_MIGRATIONS},
    Known{"minor-faults", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_PAGE_FAULTS_MIN},
    Known{"major-faults", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_PAGE_FAULTS_MAJ},
    Known{"cpu-cycles", PERF_TYPE_HARDWARE, PERF_COUNT_HW_CPU_CYCLES},
    Known{"cycles", PERF_TYPE_HARDWARE, PERF_COUNT_HW_CPU_CYCLES},
    Known{"instructions", PERF_TYPE_HARDWARE, PERF_COUNT_HW_INSTRUCTIONS},
    Known{"cache-references", PERF_TYPE_HARDWARE, PERF_COUNT_HW_CACHE_REFERENCES},
    Known{"cache-misses", PERF_TYPE_HARDWARE, PERF_COUNT_HW_CACHE_MISSES},
    Known{"branch-instructions", PERF_TYPE_HARDWARE, PERF_COUNT_HW_BRANCH_INSTRUCTIONS},
    Known{"branches", PERF_TYPE_HARDWARE, PERF_COUNT_HW_BRANCH_INSTRUCTIONS},
    Known{"branch-misses", PERF_TYPE_HARDWARE, PERF_COUNT_HW_BRANCH_MISSES},
    Known{"bus-cycles", PERF_TYPE_HARDWARE, PERF_COUNT_HW_BUS_CYCLES},
    Known{"ref-cycles", PERF_TYPE_HARDWARE, PERF_COUNT_HW_REF_CPU_CYCLES},
    Known{"stalled-cycles-frontend", PERF_TYPE_HARDWARE, PERF_COUNT_HW_STALLED_CYCLES_FRONTEND},
    Known{"stalled-cycles-backend", PERF_TYPE_HARDWARE, PERF_COUNT_HW_STALLED_CYCLES_BACKEND},
};

int perf_event_open(perf_event_attr* attr, int pid, int cpu) {
  return static_cast<int>(::syscall(__NR_perf_event_open, attr, pid, cpu, -1, PERF_FLAG_FD_CLOEXEC));
}

Error open_failed(const Spec& spec, const PerfEventKind& kind, int err) {
  if (err == ENOENT || err == EOPNOTSUPP || err == ENODEV || (err == EINVAL && kind.type == PERF_TYPE_HARDWARE)) {
    if (kind.type == PERF_TYPE_HARDWARE)
      return make_error(ErrorKind::not_supported,
                        fmt::format("cannot attach {}: the hardware event {} is not supported on this machine "
                                    "(virtual machines often expose no PMU); use a software event such as "
                                    "perf_event/cpu-clock instead",
                                    spec.str(), kind.name));
    return make_error(
        ErrorKind::not_supported,
        fmt::format("cannot attach {}: this kernel does not support the perf event {}", spec.str(), kind.name));
  }
  if (std::string why = system::explain_refusal(system::Feature::perf_events, err); !why.empty())
    return make_error(ErrorKind::permission, fmt::format("cannot attach {}: {}", spec.str(), why), err);
  if (err == EINVAL)
    return make_error(ErrorKind::invalid_argument,
                      fmt::format("cannot attach {}: the kernel rejected the sampling setting {}={} "
                                  "(check kernel.perf_event_max_sample_rate)",
                                  spec.str(), spec.use_frequency ? "freq" : "period", spec.sample));
  if (err == ESRCH)
    return make_error(ErrorKind::not_found,
                      fmt::format("cannot attach {}: the process to sample does not exist", spec.str()));
  return make_errno_error(err,
                          fmt::format("cannot attach {}: perf_event_open failed: {}", spec.str(), std::strerror(err)));
}

}  // namespace

Result<PerfEventKind> find_perf_event(const std::string& name) {
  std::vector<std::string> names;
  for (const auto& event : kEvents) {
    if (name == event.name) return PerfEventKind{event.name, event.type, event.config};
    names.emplace_back(event.name);
  }
  auto close = nearest(name, names);
  std::string hint = close.empty() ? fmt::format("known events are {}", join_alternatives(names))
                                   : fmt::format("did you mean {}?", join_alternatives(close));
  return make_error(ErrorKind::invalid_argument, fmt::format("unknown perf event \"{}\"; {}", name, hint));
}

Result<std::vector<int>> online_cpus() {
  const char* path = "/sys/devices/system/cpu/online";
  std::ifstream in(path);
  std::string text;
  if (!std::getline(in, text)) return make_error(fmt::format("cannot read the online CPUs from {}", path));
  // A list of ranges: "0-3,5,7-8".
  std::vector<int> cpus;
  size_t at = 0;
  while (at < text.size()) {
    size_t comma = text.find(',', at);
    std::string part = text.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
    int first = 0, last = 0;
    int n = std::sscanf(part.c_str(), "%d-%d", &first, &last);
    if (n < 1) return make_error(fmt::format("cannot parse the CPU list \"{}\" in {}", text, path));
    if (n == 1) last = first;
    for (int cpu = first; cpu <= last; ++cpu) cpus.push_back(cpu);
    if (comma == std::string::npos) break;
    at = comma + 1;
  }
  return cpus;
}

Result<std::vector<bpf_link*>> attach_perf_event(bpf_program* program, const Spec& spec, int pid) {
  auto kind = find_perf_event(spec.event);
  if (!kind) return kind.error_info().with_message(fmt::format("cannot attach {}: {}", spec.str(), kind.error()));
  std::vector<int> targets = {-1};  // one event following the process on any CPU
  if (pid < 0) {
    auto cpus = online_cpus();
    if (!cpus) return std::move(cpus).take_error();
    targets = *cpus;
  }

  perf_event_attr attr{};
  attr.size = sizeof attr;
  attr.type = kind->type;
  attr.config = kind->config;
  attr.freq = spec.use_frequency ? 1 : 0;
  if (spec.use_frequency)
    attr.sample_freq = spec.sample;
  else
    attr.sample_period = spec.sample;

  std::vector<bpf_link*> links;
  auto unwind = [&links] {
    for (bpf_link* link : links) bpf_link__destroy(link);
    links.clear();
  };
  for (int cpu : targets) {
    int fd = perf_event_open(&attr, pid, cpu);
    if (fd < 0) {
      int err = errno;
      if (err == ENODEV && cpu >= 0 && !links.empty()) continue;  // the CPU went offline meanwhile
      unwind();
      return open_failed(spec, *kind, err);
    }
    bpf_link* link = bpf_program__attach_perf_event(program, fd);
    if (!link) {
      int err = errno;
      ::close(fd);
      unwind();
      return make_errno_error(err, fmt::format("cannot attach {}: attaching the program to the perf event failed: {}",
                                               spec.str(), std::strerror(err)));
    }
    links.push_back(link);  // the link now owns fd
  }
  log::debug("attached {} on {} perf event(s)", spec.str(), links.size());
  return links;
}

}  // namespace ebpfrun::attach

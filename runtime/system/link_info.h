// runtime/system — what a BPF link is attached to, as the kernel reports it.
//
// A link ties one program to one attach point; BPF_OBJ_GET_INFO_BY_FD on the
// link says which: a tracepoint's name, a kprobe's function, a uprobe's file
// and offset, a cgroup id, a network interface. This turns that answer into
// the same "kind/target" spelling scripts use to attach
// ("tracepoint/sched/sched_switch", "uprobe//usr/bin/bash:0x1234").
#pragma once

#include <cstdint>
#include <string>

#include "common/result.h"

namespace ebpfrun::system {

struct LinkReport {
  uint32_t id = 0;
  std::string type;  // "perf_event", "raw_tracepoint", "tracing", "cgroup", ...
  uint32_t program_id = 0;
  std::string attach_point;  // e.g. "tracepoint/syscalls/sys_enter_getppid"
};

// Describes the link behind `fd` (the fd stays open and owned by the caller).
Result<LinkReport> describe_link(int fd);

// The tracefs category of tracepoint `name` ("sched" for "sched_switch"), or
// empty when tracefs is not mounted or has no such event.
std::string tracepoint_category(const std::string& name);

}  // namespace ebpfrun::system

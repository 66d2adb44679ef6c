// The agent's capabilities: what it needs to start, and what it keeps once
// its collectors are attached. Map reads and link lifetimes work on the fds
// the agent already holds, so after start-up only loading a collector that a
// SIGHUP adds needs privilege again: the agent keeps CAP_BPF, CAP_PERFMON and
// CAP_DAC_READ_SEARCH (tracefs is mode 0700: attaching a tracepoint reads its
// id there; measured, see docs/deployment.md) for that and drops everything else, from its effective, permitted,
// inheritable and ambient sets, and from the bounding set so that nothing it
// executes gets them back. The set kept is one list (kKeptCapabilities), so
// it is easy to adjust as the measurements of the minimum set come in.
#pragma once

#include <string>

#include "common/result.h"

namespace ebpfrun::cli::agent {

// Capabilities kept after start-up (numbers from linux/capability.h).
inline constexpr int kKeptCapabilities[] = {2 /* CAP_DAC_READ_SEARCH */, 38 /* CAP_PERFMON */, 39 /* CAP_BPF */};

// Fails with the name of the first missing capability the agent needs to
// load collectors (CAP_BPF, CAP_PERFMON; CAP_SYS_ADMIN stands for both), or
// the file permission tracepoints need (reading tracefs: CAP_DAC_READ_SEARCH).
Status check_agent_capabilities();

// Drops every capability but kKeptCapabilities; returns what was dropped, as
// text for the log ("" when there was nothing to drop).
Result<std::string> drop_capabilities();

}  // namespace ebpfrun::cli::agent

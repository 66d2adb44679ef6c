// systemd's readiness protocol without libsystemd: one datagram of
// "KEY=VALUE\n..." lines to the AF_UNIX socket named by $NOTIFY_SOCKET (a path,
// or an abstract name starting with '@'). The protocol is stable and tiny
// (sd_notify(3)), so a dependency for it is not worth having. Outside
// systemd ($NOTIFY_SOCKET unset) it does nothing.
#pragma once

#include <string>

namespace ebpfrun::cli::agent {

// Sends `state` (e.g. "READY=1\nSTATUS=6 collectors up"); false when systemd
// is not listening or the send failed (never fatal for the agent).
bool sd_notify(const std::string& state);

}  // namespace ebpfrun::cli::agent

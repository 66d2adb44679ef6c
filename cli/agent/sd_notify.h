// systemd's readiness protocol (sd_notify(3), spoken directly): readiness,
// reload and stop are reported to the service manager (Type=notify units).
// Outside systemd ($NOTIFY_SOCKET unset) it does nothing.
#pragma once

#include <string>

namespace ebpfrun::cli::agent {

// Sends `state` (e.g. "READY=1\nSTATUS=6 collectors up"); false when systemd
// is not listening or the send failed (never fatal for the agent).
bool sd_notify(const std::string& state);

}  // namespace ebpfrun::cli::agent

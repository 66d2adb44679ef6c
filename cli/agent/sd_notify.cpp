#include "cli/agent/sd_notify.h"

#include <systemd/sd-daemon.h>
#include <time.h>

#include <fmt/format.h>

namespace ebpfrun::cli::agent {

bool sd_notify(const std::string& state) {
  std::string message = state;
  // systemd wants a monotonic timestamp with RELOADING=1 (Type=notify-reload),
  // which sd_notify does not add by itself.
  if (message.find("RELOADING=1") != std::string::npos) {
    timespec now{};
    ::clock_gettime(CLOCK_MONOTONIC, &now);
    message += fmt::format("\nMONOTONIC_USEC={}", static_cast<long long>(now.tv_sec) * 1000000 + now.tv_nsec / 1000);
  }
  // > 0: sent; 0: no NOTIFY_SOCKET (not under systemd); < 0: -errno.
  return ::sd_notify(0, message.c_str()) > 0;
}

}  // namespace ebpfrun::cli::agent

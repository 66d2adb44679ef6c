#include "cli/agent/sd_notify.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

namespace ebpfrun::cli::agent {

bool sd_notify(const std::string& state) {
  // The protocol is one datagram on the unix socket named by $NOTIFY_SOCKET
  // (a path, or an abstract name written with a leading '@'). It is spoken
  // here rather than through libsystemd, which would map libsystemd and its
  // libraries (libgcrypt, liblz4, libcap: about 0.7 MiB resident) into every
  // ebpfrun process for the agent's few messages.
  const char* socket_name = std::getenv("NOTIFY_SOCKET");
  if (!socket_name || !*socket_name) return false;
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  const size_t length = std::strlen(socket_name);
  if ((socket_name[0] != '/' && socket_name[0] != '@') || length >= sizeof address.sun_path) return false;
  std::memcpy(address.sun_path, socket_name, length);
  if (socket_name[0] == '@') address.sun_path[0] = '\0';
  std::string message = state;
  // systemd wants a monotonic timestamp with RELOADING=1 (Type=notify-reload).
  if (message.find("RELOADING=1") != std::string::npos) {
    timespec now{};
    ::clock_gettime(CLOCK_MONOTONIC, &now);
    message += fmt::format("\nMONOTONIC_USEC={}", static_cast<long long>(now.tv_sec) * 1000000 + now.tv_nsec / 1000);
  }
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const auto address_size = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + length);
  const ssize_t sent = ::sendto(fd, message.data(), message.size(), MSG_NOSIGNAL,
                                reinterpret_cast<const sockaddr*>(&address), address_size);
  ::close(fd);
  return sent == static_cast<ssize_t>(message.size());
}

}  // namespace ebpfrun::cli::agent

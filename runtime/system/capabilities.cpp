#include "system/capabilities.h"

#include <unistd.h>

#include <climits>

#include <fmt/format.h>

#include "common/files.h"

namespace ebpfrun::system {

Result<Capabilities> parse_cap_hex(std::string_view hex) {
  while (!hex.empty() && (hex.back() == '\n' || hex.back() == ' ' || hex.back() == '\t')) hex.remove_suffix(1);
  while (!hex.empty() && (hex.front() == ' ' || hex.front() == '\t')) hex.remove_prefix(1);
  if (hex.empty() || hex.size() > 16)
    return make_error(ErrorKind::invalid_argument,
                      fmt::format("cannot read the capability mask '{}': expected 1 to 16 hexadecimal digits", hex));
  uint64_t mask = 0;
  for (char ch : hex) {
    int digit;
    if (ch >= '0' && ch <= '9')
      digit = ch - '0';
    else if (ch >= 'a' && ch <= 'f')
      digit = ch - 'a' + 10;
    else if (ch >= 'A' && ch <= 'F')
      digit = ch - 'A' + 10;
    else
      return make_error(ErrorKind::invalid_argument,
                        fmt::format("cannot read the capability mask '{}': '{}' is not a hexadecimal digit", hex, ch));
    mask = (mask << 4) | static_cast<uint64_t>(digit);
  }
  return Capabilities{mask};
}

Result<Capabilities> parse_status_capabilities(std::string_view status_text) {
  constexpr std::string_view kKey = "CapEff:";
  size_t pos = 0;
  while (pos < status_text.size()) {
    size_t end = status_text.find('\n', pos);
    if (end == std::string_view::npos) end = status_text.size();
    std::string_view line = status_text.substr(pos, end - pos);
    if (line.substr(0, kKey.size()) == kKey) return parse_cap_hex(line.substr(kKey.size()));
    pos = end + 1;
  }
  return make_error(ErrorKind::not_supported, "the process status has no CapEff line; is /proc mounted?");
}

Result<Capabilities> current_capabilities() {
  auto text = files::read("/proc/self/status");
  if (!text)
    return text.error_info().with_message(fmt::format("cannot read the process capabilities: {}", text.error()));
  return parse_status_capabilities(*text);
}

std::string current_executable() {
  std::string path = files::executable_path();
  return path.empty() ? "ebpfrun" : path;
}

std::vector<Check> check_capabilities(const Capabilities& caps, const std::string& executable) {
  const std::string setcap = fmt::format("`setcap cap_bpf,cap_perfmon+ep {}`", executable);
  const bool admin = caps.has(kCapSysAdmin);
  std::vector<Check> checks;

  if (caps.has(kCapBpf))
    checks.push_back(
        make_check("CAP_BPF", CheckStatus::ok, "CAP_BPF is effective: BPF programs and maps may be created."));
  else if (admin)
    checks.push_back(make_check("CAP_BPF", CheckStatus::ok,
                                "CAP_BPF is not in the effective set, but CAP_SYS_ADMIN grants the same rights."));
  else
    checks.push_back(make_check(
        "CAP_BPF", CheckStatus::failed,
        fmt::format("CAP_BPF is missing, so no BPF program or map can be created: run as root or grant it with {}.",
                    setcap),
        true));

  if (caps.has(kCapPerfmon))
    checks.push_back(make_check("CAP_PERFMON", CheckStatus::ok,
                                "CAP_PERFMON is effective: tracing programs may be loaded and attached."));
  else if (admin)
    checks.push_back(make_check("CAP_PERFMON", CheckStatus::ok,
                                "CAP_PERFMON is not in the effective set, but CAP_SYS_ADMIN grants the same rights."));
  else
    checks.push_back(make_check("CAP_PERFMON", CheckStatus::failed,
                                fmt::format("CAP_PERFMON is missing, so tracing programs cannot be loaded or attached: "
                                            "run as root or grant it with {}.",
                                            setcap),
                                true));

  if (admin)
    checks.push_back(make_check("CAP_SYS_ADMIN", CheckStatus::ok,
                                "CAP_SYS_ADMIN is effective: uprobes, --stats, mounting tracefs/bpffs and inspecting "
                                "BPF objects by id are allowed."));
  else
    checks.push_back(make_check("CAP_SYS_ADMIN", CheckStatus::warning,
                                "CAP_SYS_ADMIN is missing, so uprobes (the uprobe PMU), --stats (BPF_ENABLE_STATS), "
                                "mounting tracefs/bpffs and inspecting BPF objects by id will fail: run as root if you "
                                "need them."));

  if (caps.has(kCapNetAdmin))
    checks.push_back(make_check("CAP_NET_ADMIN", CheckStatus::ok,
                                "CAP_NET_ADMIN is effective: XDP, TC, socket and cgroup programs may be attached."));
  else
    checks.push_back(make_check(
        "CAP_NET_ADMIN", CheckStatus::warning,
        fmt::format("CAP_NET_ADMIN is missing, so XDP, TC, socket and cgroup programs cannot be attached: run as "
                    "root or "
                    "grant it with `setcap cap_bpf,cap_perfmon,cap_net_admin+ep {}`.",
                    executable)));
  return checks;
}

}  // namespace ebpfrun::system

#include "system/kernel.h"

#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>

#include <fmt/format.h>

#include "common/files.h"
#include "common/libbpf_log.h"

namespace ebpfrun::system {

Result<KernelVersion> parse_kernel_release(const std::string& release) {
  KernelVersion v;
  v.release = release;
  if (std::sscanf(release.c_str(), "%d.%d.%d", &v.major, &v.minor, &v.patch) < 2)
    return make_error(ErrorKind::invalid_argument,
                      fmt::format("cannot read the kernel version from the release string '{}'", release));
  return v;
}

Result<KernelVersion> kernel_version() {
  struct utsname u {};
  if (::uname(&u) != 0) return make_errno_error(errno, fmt::format("uname failed: {}", std::strerror(errno)));
  auto v = parse_kernel_release(u.release);
  if (v) v->machine = u.machine;
  return v;
}

Check check_kernel_version() {
  auto v = kernel_version();
  if (!v) return make_check("kernel", CheckStatus::warning, v.error() + ".");
  if (v->major < 5 || (v->major == 5 && v->minor < 8))
    return make_check("kernel", CheckStatus::warning,
                      fmt::format("Linux {} is older than 5.8, so there is no CAP_BPF/CAP_PERFMON (run as root), no "
                                  "ring buffers and no BPF_ENABLE_STATS; scripts that need them will fail.",
                                  v->release));
  return make_check("kernel", CheckStatus::ok, fmt::format("Linux {} ({}).", v->release, v->machine));
}

namespace {

// The fixed part of a BTF file's header (linux/btf.h's struct btf_header),
// read without libbpf so that checking a file does not parse it.
struct BtfHeader {
  uint16_t magic;
  uint8_t version;
  uint8_t flags;
  uint32_t hdr_len;
  uint32_t type_off;
  uint32_t type_len;
  uint32_t str_off;
  uint32_t str_len;
};

// Empty when the header is sound; otherwise why not.
std::string btf_header_problem(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return std::strerror(errno);
  BtfHeader header{};
  size_t got = std::fread(&header, 1, sizeof(header), f);
  std::fseek(f, 0, SEEK_END);
  long size = std::ftell(f);
  std::fclose(f);
  if (got != sizeof(header) || header.magic != 0xeB9F) return "no BTF magic number";
  if (header.version != 1) return fmt::format("BTF version {}, not 1", header.version);
  uint64_t end = uint64_t(header.hdr_len) +
                 std::max(uint64_t(header.type_off) + header.type_len, uint64_t(header.str_off) + header.str_len);
  if (size < 0 || end > uint64_t(size)) return "the file is shorter than its header says";
  return {};
}

}  // namespace

Check check_btf(const std::string& btf_path, bool parse) {
  log::route_libbpf_messages();
  const bool custom = !btf_path.empty();
  const std::string path = custom ? btf_path : kVmlinuxBtf;
  if (::access(path.c_str(), R_OK) != 0) {
    int err = errno;
    if (custom)
      return make_check("btf", CheckStatus::failed,
                        fmt::format("cannot read the BTF file {} given with --btf: {}.", path, std::strerror(err)),
                        true);
    return make_check("btf", CheckStatus::failed,
                      fmt::format("there is no kernel BTF at {} ({}; the kernel was built without "
                                  "CONFIG_DEBUG_INFO_BTF): pass a BTF file for this kernel with --btf PATH, e.g. one "
                                  "from BTFHub.",
                                  path, std::strerror(err)),
                      true);
  }
  if (!parse) {
    if (std::string problem = btf_header_problem(path); !problem.empty())
      return make_check(
          "btf", CheckStatus::failed,
          fmt::format("{} is not usable BTF ({}): pass a BTF file for this kernel with --btf PATH.", path, problem),
          true);
    return make_check("btf", CheckStatus::ok, fmt::format("{}BTF at {}.", custom ? "" : "kernel ", path));
  }
  struct btf* btf = btf__parse(path.c_str(), nullptr);
  if (!btf) {
    int err = errno;
    return make_check("btf", CheckStatus::failed,
                      fmt::format("{} is not usable BTF ({}): pass a BTF file for this kernel with --btf PATH.", path,
                                  std::strerror(err)),
                      true);
  }
  unsigned types = btf__type_cnt(btf);
  btf__free(btf);
  return make_check("btf", CheckStatus::ok,
                    fmt::format("{}BTF at {} ({} types).", custom ? "" : "kernel ", path, types));
}

namespace {

bool event_source(const std::string& name) {
  return ::access(("/sys/bus/event_source/devices/" + name).c_str(), F_OK) == 0;
}

bool tracefs_file(const std::string& tracefs_dir, const std::string& name) {
  return !tracefs_dir.empty() && ::access((tracefs_dir + "/" + name).c_str(), F_OK) == 0;
}

}  // namespace

Check check_kprobes(const std::string& tracefs_dir) {
  if (event_source("kprobe") || tracefs_file(tracefs_dir, "kprobe_events"))
    return make_check("kprobes", CheckStatus::ok, "kprobes and kretprobes are available.");
  return make_check("kprobes", CheckStatus::warning,
                    "kprobes: not available — use tracepoints/raw_tp/tp_btf/uprobes (this kernel has no kprobe "
                    "event source and no kprobe_events in tracefs; CONFIG_KPROBES is off).");
}

Check check_uprobes(const std::string& tracefs_dir) {
  if (event_source("uprobe") || tracefs_file(tracefs_dir, "uprobe_events"))
    return make_check("uprobes", CheckStatus::ok, "uprobes, uretprobes and USDT probes are available.");
  return make_check("uprobes", CheckStatus::warning,
                    "uprobes: not available — this kernel has no uprobe event source and no uprobe_events in tracefs "
                    "(CONFIG_UPROBE_EVENTS is off), so uprobes and USDT probes cannot be attached.");
}

Check check_unprivileged_bpf(const Capabilities& caps) {
  constexpr const char* kPath = "/proc/sys/kernel/unprivileged_bpf_disabled";
  auto text = files::read(kPath);
  if (!text)
    return make_check("unprivileged_bpf_disabled", CheckStatus::warning,
                      fmt::format("cannot read {}: {}.", kPath, text.error()));
  int value = std::atoi(text->c_str());
  std::string meaning = value == 0   ? "unprivileged users may load socket filters"
                        : value == 1 ? "only privileged processes may use bpf(2), until reboot"
                                     : "only privileged processes may use bpf(2)";
  if (value != 0 && !caps.can_bpf())
    return make_check("unprivileged_bpf_disabled", CheckStatus::warning,
                      fmt::format("kernel.unprivileged_bpf_disabled = {}: {}, and this process has neither CAP_BPF "
                                  "nor CAP_SYS_ADMIN, so every bpf(2) call will be refused.",
                                  value, meaning));
  return make_check("unprivileged_bpf_disabled", CheckStatus::ok,
                    fmt::format("kernel.unprivileged_bpf_disabled = {}: {}; ebpfrun runs with CAP_BPF and "
                                "CAP_PERFMON either way.",
                                value, meaning));
}

}  // namespace ebpfrun::system

#include "attach/kernel_names.h"

#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>

#include "attach/nearest.h"
#include "common/log.h"
#include "system/privileges.h"

namespace ebpfrun::attach {
namespace {

namespace fs = std::filesystem;

constexpr const char* kTracefs = "/sys/kernel/tracing";
constexpr const char* kDebugfsTracing = "/sys/kernel/debug/tracing";

bool is_dir(const std::string& path) {
  std::error_code ec;
  return fs::is_directory(path, ec);
}

std::vector<std::string> subdirectories(const std::string& path) {
  std::vector<std::string> out;
  std::error_code ec;
  for (fs::directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code type_ec;
    if (it->is_directory(type_ec)) out.push_back(it->path().filename().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// The tracefs directory when it is already mounted, else empty. Never mounts.
std::string mounted_tracefs() {
  for (const char* dir : {kTracefs, kDebugfsTracing})
    if (is_dir(std::string(dir) + "/events")) return dir;
  return {};
}

// Kernel functions a kprobe is commonly put on, and the tracepoints that see
// the same event. Syscall wrappers and functions that have a tracepoint of the
// same name are handled by rule, not listed here.
struct KprobeHint {
  std::string_view symbol;
  std::string_view entry;
  std::string_view exit;  // empty: the entry tracepoint serves a kretprobe too
};
constexpr std::array kKprobeHints = {
    KprobeHint{"do_sys_openat2", "syscalls/sys_enter_openat", "syscalls/sys_exit_openat"},
    KprobeHint{"do_sys_open", "syscalls/sys_enter_openat", "syscalls/sys_exit_openat"},
    KprobeHint{"vfs_read", "syscalls/sys_enter_read", "syscalls/sys_exit_read"},
    KprobeHint{"vfs_write", "syscalls/sys_enter_write", "syscalls/sys_exit_write"},
    KprobeHint{"tcp_connect", "sock/inet_sock_set_state", ""},
    KprobeHint{"tcp_v4_connect", "sock/inet_sock_set_state", ""},
    KprobeHint{"tcp_v6_connect", "sock/inet_sock_set_state", ""},
    KprobeHint{"tcp_close", "sock/inet_sock_set_state", ""},
    KprobeHint{"inet_csk_accept", "sock/inet_sock_set_state", ""},
    KprobeHint{"do_exit", "sched/sched_process_exit", ""},
    KprobeHint{"wake_up_new_task", "sched/sched_process_fork", ""},
};

constexpr std::array<std::string_view, 7> kSyscallPrefixes = {"__x64_sys_", "__arm64_sys_", "__ia32_sys_", "__se_sys_",
                                                              "__do_sys_",  "ksys_",        "sys_"};

}  // namespace

Result<std::string> tracefs() {
  if (std::string dir = mounted_tracefs(); !dir.empty()) return dir;
  // Mounted but unreadable (tracefs is mode 0700 root): saying "not mounted"
  // here would send the user to fix the wrong thing.
  for (const char* dir : {kTracefs, kDebugfsTracing}) {
    struct stat st {};
    std::string events = std::string(dir) + "/events";
    if (::stat(events.c_str(), &st) != 0 && (errno == EACCES || errno == EPERM)) {
      int err = errno;
      return make_error(fmt::format(
          "tracefs is mounted at {} but this process cannot read it ({}); tracepoint/ probes and -l need it, "
          "raw_tp/NAME and tp_btf/NAME do not",
          dir, system::explain_refusal(system::Feature::tracepoints, err)));
    }
  }
  if (!is_dir(kTracefs))
    return make_error(ErrorKind::not_supported,
                      fmt::format("this kernel has no tracefs ({} does not exist), so tracepoints cannot be "
                                  "attached; use raw_tracepoint/NAME or tp_btf/NAME instead",
                                  kTracefs));
  if (::geteuid() != 0)
    return make_error(
        ErrorKind::permission,
        fmt::format("tracefs is not mounted; mount it as root with `mount -t tracefs tracefs {}`", kTracefs));
  if (::mount("tracefs", kTracefs, "tracefs", 0, nullptr) != 0) {
    int err = errno;
    return make_errno_error(err, fmt::format("tracefs is not mounted and mounting it failed ({}); mount it with "
                                             "`mount -t tracefs tracefs {}`",
                                             std::strerror(err), kTracefs));
  }
  log::info("mounted tracefs at {} (tracepoints need it)", kTracefs);
  return std::string(kTracefs);
}

std::vector<std::string> tracepoint_categories(const std::string& tracefs_dir) {
  return subdirectories(tracefs_dir + "/events");
}

std::vector<std::string> tracepoints_in(const std::string& tracefs_dir, const std::string& category) {
  return subdirectories(tracefs_dir + "/events/" + category);
}

Status check_tracepoint(const std::string& tracefs_dir, const Spec& spec) {
  const std::string events = tracefs_dir + "/events/";
  if (is_dir(events + spec.category + "/" + spec.name)) return ok_status();

  const auto categories = tracepoint_categories(tracefs_dir);
  std::vector<std::string> suggestions;
  // The same name in another category is the likeliest slip ("syscall/…" for "syscalls/…").
  for (const auto& category : categories)
    if (category != spec.category && is_dir(events + category + "/" + spec.name))
      suggestions.push_back("tracepoint/" + category + "/" + spec.name);
  std::string what;
  if (is_dir(events + spec.category)) {
    what = fmt::format("tracepoint {}/{} does not exist", spec.category, spec.name);
    for (const auto& name : nearest(spec.name, tracepoints_in(tracefs_dir, spec.category)))
      suggestions.push_back(fmt::format("tracepoint/{}/{}", spec.category, name));
  } else {
    what = fmt::format("tracepoint category \"{}\" does not exist", spec.category);
    if (suggestions.empty())
      for (const auto& category : nearest(spec.category, categories))
        suggestions.push_back(fmt::format("category \"{}\"", category));
  }
  std::string hint = suggestions.empty() ? std::string("no existing tracepoint is close")
                                         : fmt::format("did you mean {}?", join_alternatives(suggestions));
  return make_error(ErrorKind::not_found,
                    fmt::format("{}; {} (all tracepoints are listed in {}/available_events)", what, hint, tracefs_dir));
}

std::string raw_tracepoint_suggestion(const std::string& name) {
  const std::string dir = mounted_tracefs();
  if (dir.empty()) return {};
  std::vector<std::string> names;
  for (const auto& category : tracepoint_categories(dir))
    for (auto& tp : tracepoints_in(dir, category)) names.push_back(std::move(tp));
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  auto close = nearest(name, names);
  if (close.empty()) return {};
  return fmt::format("did you mean {}?", join_alternatives(close, "\"", "\""));
}

bool kprobes_available() {
  std::error_code ec;
  if (fs::exists("/sys/bus/event_source/devices/kprobe", ec)) return true;
  const std::string dir = mounted_tracefs();
  return !dir.empty() && fs::exists(dir + "/kprobe_events", ec);
}

std::vector<std::string> tracepoints_instead_of_kprobe(const std::string& symbol, bool exit) {
  const std::string dir = mounted_tracefs();
  auto exists = [&dir](const std::string& tracepoint) { return dir.empty() || is_dir(dir + "/events/" + tracepoint); };
  std::vector<std::string> out;
  for (const auto& hint : kKprobeHints) {
    if (hint.symbol != symbol) continue;
    std::string tracepoint(exit && !hint.exit.empty() ? hint.exit : hint.entry);
    if (exists(tracepoint)) out.push_back(tracepoint);
    return out;
  }
  for (auto prefix : kSyscallPrefixes) {
    if (!symbol.starts_with(prefix) || symbol.size() == prefix.size()) continue;
    std::string tracepoint = fmt::format("syscalls/sys_{}_{}", exit ? "exit" : "enter", symbol.substr(prefix.size()));
    if (exists(tracepoint)) out.push_back(tracepoint);
    return out;
  }
  // A tracepoint named like the function (tcp_retransmit_skb, kfree_skb, …).
  if (!dir.empty())
    for (const auto& category : tracepoint_categories(dir))
      if (is_dir(dir + "/events/" + category + "/" + symbol)) out.push_back(category + "/" + symbol);
  return out;
}

Error kprobes_unavailable(const Spec& spec) {
  const bool exit = spec.kind == Kind::kretprobe;
  auto instead = tracepoints_instead_of_kprobe(spec.symbol, exit);
  std::string advice = instead.empty()
                           ? std::string(
                                 "trace this with a tracepoint (listed in /sys/kernel/tracing/available_events), "
                                 "raw_tracepoint or tp_btf program instead")
                           : fmt::format("use {} instead", join_alternatives(instead, "tracepoint/"));
  return make_error(ErrorKind::not_supported,
                    fmt::format("cannot attach {}: kprobes are not available on this kernel (it was built "
                                "without CONFIG_KPROBES); {}",
                                spec.str(), advice));
}

}  // namespace ebpfrun::attach

#include "system/mounts.h"

#include <sys/mount.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "common/files.h"
#include "common/log.h"

namespace ebpfrun::system {
namespace {

// /proc/mounts escapes space, tab, newline and backslash as \ooo.
std::string unescape(std::string_view field) {
  std::string out;
  out.reserve(field.size());
  for (size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size()) {
      std::string_view digits = field.substr(i + 1, 3);
      bool octal = true;
      for (char d : digits) octal = octal && d >= '0' && d <= '7';
      if (octal) {
        out += static_cast<char>((digits[0] - '0') * 64 + (digits[1] - '0') * 8 + (digits[2] - '0'));
        i += 3;
        continue;
      }
    }
    out += field[i];
  }
  return out;
}

std::vector<std::string_view> split_fields(std::string_view line) {
  std::vector<std::string_view> fields;
  size_t pos = 0;
  while (pos < line.size()) {
    while (pos < line.size() && (line[pos] == ' ' || line[pos] == '\t')) ++pos;
    size_t end = pos;
    while (end < line.size() && line[end] != ' ' && line[end] != '\t') ++end;
    if (end > pos) fields.push_back(line.substr(pos, end - pos));
    pos = end;
  }
  return fields;
}

}  // namespace

std::vector<MountEntry> parse_mounts(std::string_view text) {
  std::vector<MountEntry> mounts;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    auto fields = split_fields(text.substr(pos, end - pos));
    pos = end + 1;
    if (fields.size() < 3) continue;  // blank or malformed line
    mounts.push_back(MountEntry{unescape(fields[0]), unescape(fields[1]), std::string(fields[2]),
                                fields.size() > 3 ? std::string(fields[3]) : std::string()});
  }
  return mounts;
}

Result<std::vector<MountEntry>> read_mounts(const std::string& path) {
  auto text = files::read(path);
  if (!text) return text.error_info().with_message(fmt::format("cannot list mounted file systems: {}", text.error()));
  return parse_mounts(*text);
}

const FileSystemNeed& tracefs_need() {
  static const FileSystemNeed need{"tracefs",
                                   "tracefs",
                                   {"/sys/kernel/tracing", "/sys/kernel/debug/tracing"},
                                   "tracepoints, kprobes and uprobes cannot be attached",
                                   true};
  return need;
}

const FileSystemNeed& bpffs_need() {
  static const FileSystemNeed need{"bpffs", "bpf", {"/sys/fs/bpf"}, "maps cannot be pinned", false};
  return need;
}

std::optional<std::string> find_mount(const std::vector<MountEntry>& mounts, const FileSystemNeed& need) {
  for (const auto& target : need.targets)
    for (const auto& m : mounts)
      if (m.fstype == need.fstype && m.target == target) return target;
  return std::nullopt;
}

std::string mount_command(const FileSystemNeed& need) {
  return fmt::format("mount -t {} {} {}", need.fstype, need.fstype, need.targets.front());
}

Status mount_file_system(const FileSystemNeed& need) {
  const std::string& target = need.targets.front();
  if (::mount(need.fstype.c_str(), target.c_str(), need.fstype.c_str(), 0, nullptr) != 0) {
    int err = errno;
    return make_errno_error(err, fmt::format("cannot mount {} at {}: {}", need.fstype, target, std::strerror(err)));
  }
  return ok_status();
}

Check check_file_system(const std::vector<MountEntry>& mounts, const FileSystemNeed& need, MountPolicy policy,
                        bool may_mount) {
  if (auto where = find_mount(mounts, need))
    return make_check(need.name, CheckStatus::ok, fmt::format("{} is mounted at {}.", need.name, *where));

  // Mounted somewhere libbpf does not look: worth saying, it explains a confusing failure.
  std::string elsewhere;
  for (const auto& m : mounts)
    if (m.fstype == need.fstype) {
      elsewhere = fmt::format(" (it is mounted at {}, where libbpf does not look)", m.target);
      break;
    }
  const std::string command = mount_command(need);
  const CheckStatus missing = need.blocking ? CheckStatus::failed : CheckStatus::warning;

  if (!may_mount)
    return make_check(need.name, missing,
                      fmt::format("{} is not mounted at {}{}, so {}: ask an administrator to run `{}`.", need.name,
                                  need.targets.front(), elsewhere, need.purpose, command),
                      need.blocking);

  if (policy == MountPolicy::report)
    // A normal run would mount it, so this does not block; say how to do it now.
    return make_check(need.name, CheckStatus::warning,
                      fmt::format("{} is not mounted at {}{}; ebpfrun mounts it when a script starts, or run `{}` "
                                  "(or `ebpfrun doctor --fix`) now.",
                                  need.name, need.targets.front(), elsewhere, command));

  if (auto mounted = mount_file_system(need); !mounted)
    return make_check(need.name, missing,
                      fmt::format("{} is not mounted and mounting it failed ({}), so {}: run `{}` as root.", need.name,
                                  mounted.error(), need.purpose, command),
                      need.blocking);
  log::warn("mounted {} at {} because it was not mounted (`{}`); it stays mounted after ebpfrun exits", need.name,
            need.targets.front(), command);
  return make_check(need.name, CheckStatus::fixed,
                    fmt::format("{} was not mounted; ebpfrun mounted it at {}.", need.name, need.targets.front()));
}

}  // namespace ebpfrun::system

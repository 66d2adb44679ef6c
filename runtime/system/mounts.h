// runtime/system — tracefs and bpffs: are they mounted, and mounting them.
//
// libbpf finds tracepoint ids, kprobe and uprobe events through tracefs, and
// only looks for it at /sys/kernel/debug/tracing and /sys/kernel/tracing; maps
// are pinned on bpffs at /sys/fs/bpf. A fresh machine may have neither. A
// normal run mounts what is missing when it is privileged (the user asked to
// trace, and without tracefs tracepoints cannot be attached); `ebpfrun doctor`
// only reports unless given --fix. A mount made here is left in place when the
// run ends, like the ones systemd makes at boot, and it is logged.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "system/check.h"

namespace ebpfrun::system {

// One line of /proc/self/mounts.
struct MountEntry {
  std::string source;
  std::string target;  // octal escapes (\040 for a space) decoded
  std::string fstype;
  std::string options;
};

std::vector<MountEntry> parse_mounts(std::string_view text);
Result<std::vector<MountEntry>> read_mounts(const std::string& path = "/proc/self/mounts");

// A file system the runtime needs at one of a few well-known places.
struct FileSystemNeed {
  std::string name;                  // "tracefs", "bpffs" (check name)
  std::string fstype;                // type in /proc/mounts and for mount(2): "tracefs", "bpf"
  std::vector<std::string> targets;  // accepted mount points, preferred first; we mount at the first
  std::string purpose;               // what fails without it, as a clause
  bool blocking = false;             // a run cannot go on without it
};

const FileSystemNeed& tracefs_need();
const FileSystemNeed& bpffs_need();

// Where `need` is mounted (one of its targets), if it is.
std::optional<std::string> find_mount(const std::vector<MountEntry>& mounts, const FileSystemNeed& need);

// The shell command that mounts `need` at its preferred place.
std::string mount_command(const FileSystemNeed& need);

// Mounts `need` at its preferred place with mount(2).
Status mount_file_system(const FileSystemNeed& need);

enum class MountPolicy {
  report,            // only say what is missing and the command that fixes it
  mount_if_missing,  // mount what is missing when we may (status "fixed"), else report
};

// The check for one file system. With mount_if_missing and `may_mount`
// (CAP_SYS_ADMIN) a missing file system is mounted and logged.
Check check_file_system(const std::vector<MountEntry>& mounts, const FileSystemNeed& need, MountPolicy policy,
                        bool may_mount);

}  // namespace ebpfrun::system

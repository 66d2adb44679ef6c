#include "template/filter.h"

#include <sys/stat.h>
#include <sys/statfs.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <limits>

#include <fmt/format.h>

namespace ebpfrun::tmpl {
namespace {

constexpr std::string_view kCgroupRoot = "/sys/fs/cgroup";
// The kernel's TASK_COMM_LEN is 16 including the terminating zero.
constexpr size_t kMaxCommBytes = 15;
// From <linux/magic.h>, spelled out so that this file does not need kernel headers.
constexpr long kCgroup2SuperMagic = 0x63677270;
constexpr long kCgroupV1SuperMagic = 0x27e0eb;

// Where cgroup v2 is mounted, as advice: " (cgroup v2 is mounted at DIR)".
std::string cgroup2_hint() {
  FILE* mounts = std::fopen("/proc/self/mounts", "re");
  if (!mounts) return "";
  char device[256], dir[4096], type[64];
  std::string hint;
  while (std::fscanf(mounts, "%255s %4095s %63s %*[^\n]", device, dir, type) == 3)
    if (std::string_view(type) == "cgroup2") {
      hint = fmt::format(" (cgroup v2 is mounted at {}: use a directory there)", dir);
      break;
    }
  std::fclose(mounts);
  return hint.empty() ? " (no cgroup v2 is mounted: `mount -t cgroup2 none /sys/fs/cgroup/unified`)" : hint;
}

// Shows a user value in an error message. Control bytes are escaped so that a
// stray newline, NUL or terminal escape sequence cannot garble the terminal or
// hide part of the message.
std::string escaped(std::string_view value) {
  std::string out;
  for (unsigned char c : value) {
    if (c == '\\' || c == '\'') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c < 0x20 || c == 0x7f) {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::string quote(std::string_view value) { return "'" + escaped(value) + "'"; }

Error invalid(std::string_view field, std::string_view value, std::string_view why) {
  return make_error(ErrorKind::invalid_argument, fmt::format("invalid {} filter {}: {}", field, quote(value), why));
}

// Repeated values are dropped; a field holds at most kMaxFilterValues, the
// size of the array the values live in (see filter_globals).
template <typename T>
Status add_unique(std::vector<T>& values, T value, std::string_view field) {
  if (std::find(values.begin(), values.end(), value) != values.end()) return ok_status();
  if (values.size() >= kMaxFilterValues)
    return make_error(ErrorKind::invalid_argument,
                      fmt::format("too many {} filter values: at most {} can be given (they live in a fixed-size "
                                  "array in the object's read-only data)",
                                  field, kMaxFilterValues));
  values.push_back(std::move(value));
  return ok_status();
}

// Accepts plain decimal only: no sign, no whitespace, no hex, so that a typo such
// as "12a" or "0x10" is reported instead of being read as some other process.
Result<uint64_t> parse_decimal(std::string_view field, std::string_view value, uint64_t max) {
  if (value.empty()) return invalid(field, value, "expected a decimal number, got an empty value");
  if (value.front() == '-') return invalid(field, value, "negative numbers are not allowed");
  if (!std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return invalid(field, value, "expected a decimal number");
  uint64_t number = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), number);
  if (ec == std::errc::result_out_of_range || number > max)
    return invalid(field, value, fmt::format("the largest allowed value is {}", max));
  return number;
}

Status add_u32(std::vector<uint32_t>& values, std::string_view field, std::string_view value) {
  auto number = parse_decimal(field, value, std::numeric_limits<uint32_t>::max());
  if (!number) return std::move(number).take_error();
  return add_unique(values, static_cast<uint32_t>(*number), field);
}

Status add_comm(std::vector<std::string>& values, std::string_view field, std::string_view value) {
  if (value.empty()) return invalid(field, value, "the value is empty");
  if (value.find('\0') != std::string_view::npos)
    return invalid(field, value, "it contains a NUL byte, which a comm cannot hold");
  if (value.size() > kMaxCommBytes)
    return invalid(field, value,
                   fmt::format("it is {} bytes long, but the kernel truncates a task's comm to "
                               "{} bytes (TASK_COMM_LEN 16), so it could never match",
                               value.size(), kMaxCommBytes));
  return add_unique(values, std::string(value), field);
}

// A cgroup v2 id is the inode number of the cgroup's directory. Paths are tried as
// given and then under /sys/fs/cgroup, so both "/sys/fs/cgroup/system.slice" and
// the shorter "/system.slice" (as printed in /proc/PID/cgroup) work. A candidate on
// a cgroup v2 file system wins over one that merely exists, so "/" means the root
// cgroup on a cgroup v2 host rather than the root directory.
Result<uint64_t> resolve_cgroup_path(std::string_view value) {
  std::vector<std::string> candidates{std::string(value)};
  if (value != kCgroupRoot && !value.starts_with(fmt::format("{}/", kCgroupRoot)))
    candidates.push_back(fmt::format("{}{}", kCgroupRoot, value));

  // A directory that is not on cgroup2 (a cgroup v1 hierarchy, or any other
  // file system) is refused: its inode number is not a cgroup v2 id, and a
  // v1 root's inode 1 equals the v2 root's id, which would match every process.
  int failure = ENOENT;  // the most useful failure: EACCES or ENOTDIR say more than ENOENT
  std::string not_v2;
  for (const std::string& path : candidates) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
      if (errno != ENOENT) failure = errno;
      continue;
    }
    if (!S_ISDIR(st.st_mode)) {
      failure = ENOTDIR;
      continue;
    }
    struct statfs fs {};
    if (::statfs(path.c_str(), &fs) != 0) {
      failure = errno;
      continue;
    }
    if (fs.f_type == kCgroup2SuperMagic) return st.st_ino;
    if (not_v2.empty())
      not_v2 = fmt::format("{} is {}, not on cgroup v2; cgroup filters compare cgroup v2 ids{}", path,
                           fs.f_type == kCgroupV1SuperMagic ? "a cgroup v1 directory" : "a directory", cgroup2_hint());
  }
  if (!not_v2.empty()) return invalid("cgroup", value, not_v2);
  std::string tried = candidates.size() > 1
                          ? fmt::format(" (tried {} and {})", escaped(candidates[0]), escaped(candidates[1]))
                          : std::string();
  return invalid("cgroup", value,
                 fmt::format("cannot use it as a cgroup directory: {}{}", std::strerror(failure), tried));
}

Status add_cgroup(std::vector<uint64_t>& values, std::string_view value) {
  const bool is_path = !value.empty() && value.front() == '/';
  const bool looks_numeric = value.empty() || value.front() == '-' || (value.front() >= '0' && value.front() <= '9');
  if (!is_path && !looks_numeric)
    return invalid("cgroup", value, "expected a decimal cgroup id or a cgroup v2 directory path starting with '/'");
  // A path goes to the kernel as a C string, so a NUL would silently cut it short.
  if (is_path && value.find('\0') != std::string_view::npos)
    return invalid("cgroup", value, "the path contains a NUL byte");
  auto id = is_path ? resolve_cgroup_path(value) : parse_decimal("cgroup", value, std::numeric_limits<uint64_t>::max());
  if (!id) return std::move(id).take_error();
  return add_unique(values, *id, "cgroup");
}

}  // namespace

std::vector<std::string> set_filter_fields(const FilterSpec& spec) {
  const bool set[] = {!spec.pids.empty(),          !spec.tids.empty(), !spec.comms.empty(),
                      !spec.comm_prefixes.empty(), !spec.uids.empty(), !spec.cgroup_ids.empty(),
                      !spec.exclude_pids.empty()};
  std::vector<std::string> names;
  for (size_t i = 0; i < known_filter_fields().size(); ++i)
    if (set[i]) names.push_back(known_filter_fields()[i]);
  return names;
}

bool FilterSpec::empty() const {
  return pids.empty() && tids.empty() && comms.empty() && comm_prefixes.empty() && uids.empty() && cgroup_ids.empty() &&
         exclude_pids.empty();
}

const std::vector<std::string>& known_filter_fields() {
  static const std::vector<std::string> fields{"pid", "tid", "comm", "comm_prefix", "uid", "cgroup", "exclude_pid"};
  return fields;
}

Status add_filter_value(FilterSpec& spec, std::string_view field, std::string_view value) {
  if (field == "pid") return add_u32(spec.pids, field, value);
  if (field == "tid") return add_u32(spec.tids, field, value);
  if (field == "uid") return add_u32(spec.uids, field, value);
  if (field == "comm") return add_comm(spec.comms, field, value);
  if (field == "comm_prefix") return add_comm(spec.comm_prefixes, field, value);
  if (field == "cgroup") return add_cgroup(spec.cgroup_ids, value);
  if (field == "exclude_pid") return add_u32(spec.exclude_pids, field, value);
  return make_error(ErrorKind::invalid_argument, fmt::format("unknown filter field {}; known fields are: {}",
                                                             quote(field), fmt::join(known_filter_fields(), ", ")));
}

}  // namespace ebpfrun::tmpl

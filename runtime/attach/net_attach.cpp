// Cgroup and sockmap attachments: the network-facing kinds of attach_program().
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include <fmt/format.h>

#include "attach/internal/attach_internal.h"
#include "attach/nearest.h"
#include "common/log.h"

namespace ebpfrun::attach::detail {
namespace {

// Where cgroup v2 is mounted now, from /proc/mounts; empty when nowhere.
std::string cgroup2_mount() {
  std::ifstream mounts("/proc/mounts");
  std::string line;
  while (std::getline(mounts, line)) {
    std::istringstream fields(line);
    std::string device, dir, type;
    if (fields >> device >> dir >> type && type == "cgroup2") return dir;
  }
  return {};
}

Error not_cgroup2(const Spec& spec) {
  std::string mounted = cgroup2_mount();
  std::string where = mounted.empty()
                          ? "cgroup2 is not mounted: mount it with `mount -t cgroup2 none /sys/fs/cgroup/unified` "
                            "and use a directory inside it"
                          : fmt::format("cgroup2 is mounted at {}: use a directory inside it", mounted);
  return make_error(ErrorKind::invalid_argument,
                    fmt::format("cannot attach {}: {} is not a cgroup v2 directory, and BPF cgroup programs need "
                                "one ({})",
                                spec.str(), spec.cgroup_path, where));
}

int dup_fd(int fd) { return ::fcntl(fd, F_DUPFD_CLOEXEC, 3); }

std::string map_name_of(int fd, bpf_map_type* type) {
  bpf_map_info info{};
  uint32_t length = sizeof info;
  if (bpf_obj_get_info_by_fd(fd, &info, &length) != 0) return {};
  if (type) *type = static_cast<bpf_map_type>(info.type);
  return info.name;
}

// A dup of the fd of map `name`: from the object when given, else among the
// maps the program uses. Kernel map names are cut at 15 characters.
Result<int> find_map(bpf_program* program, const Spec& spec, bpf_object* object) {
  if (object) {
    bpf_map* map = bpf_object__find_map_by_name(object, spec.map.c_str());
    if (!map) {
      std::vector<std::string> names;
      bpf_map* each;
      bpf_object__for_each_map(each, object) names.emplace_back(bpf_map__name(each));
      auto close = nearest(spec.map, names);
      return make_error(
          ErrorKind::not_found,
          fmt::format("cannot attach {}: the object has no map named \"{}\"{}", spec.str(), spec.map,
                      close.empty() ? "" : fmt::format("; did you mean {}?", join_alternatives(close, "\"", "\""))));
    }
    if (bpf_map__fd(map) < 0)
      return make_error(
          ErrorKind::invalid_argument,
          fmt::format("cannot attach {}: map \"{}\" is not created yet; load the object first", spec.str(), spec.map));
    return dup_fd(bpf_map__fd(map));
  }
  bpf_prog_info info{};
  uint32_t length = sizeof info;
  int prog_fd = bpf_program__fd(program);
  if (bpf_obj_get_info_by_fd(prog_fd, &info, &length) != 0)
    return attach_failed(spec, errno, "reading the program's maps failed");
  std::vector<uint32_t> ids(info.nr_map_ids);
  info = {};
  info.nr_map_ids = static_cast<uint32_t>(ids.size());
  info.map_ids = reinterpret_cast<uint64_t>(ids.data());
  length = sizeof info;
  if (!ids.empty() && bpf_obj_get_info_by_fd(prog_fd, &info, &length) != 0)
    return attach_failed(spec, errno, "reading the program's maps failed");
  const std::string wanted = spec.map.substr(0, BPF_OBJ_NAME_LEN - 1);
  for (uint32_t id : ids) {
    int fd = bpf_map_get_fd_by_id(id);
    if (fd < 0) continue;
    if (map_name_of(fd, nullptr) == wanted) return fd;
    ::close(fd);
  }
  return make_error(ErrorKind::not_found,
                    fmt::format("cannot attach {}: program \"{}\" does not use a map named \"{}\"; pass the "
                                "program's object (AttachOptions.object) to find maps in it by name",
                                spec.str(), bpf_program__name(program), spec.map));
}

}  // namespace

Result<Link> attach_cgroup(bpf_program* program, const Spec& spec) {
  const CgroupType* type = find_cgroup_type(spec.cgroup_type);
  if (!type)
    return make_error(
        ErrorKind::invalid_argument,
        fmt::format("cannot attach {}: unknown cgroup attach type (known: {})", spec.str(), cgroup_type_names()));
  if (bpf_program__type(program) != type->prog_type) return wrong_program_type(program, spec, type->section);
  if (bpf_program__expected_attach_type(program) != type->attach_type)
    return make_error(
        ErrorKind::invalid_argument,
        fmt::format("cannot attach {} as {}: it was loaded for the {} attach point; declare it with "
                    "SEC(\"{}\")",
                    describe(program), spec.str(),
                    libbpf_bpf_attach_type_str(bpf_program__expected_attach_type(program)), type->section));

  int fd = ::open(spec.cgroup_path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT)
      return make_error(ErrorKind::not_found,
                        fmt::format("cannot attach {}: the cgroup directory {} does not exist; create it with mkdir "
                                    "inside a cgroup v2 mount",
                                    spec.str(), spec.cgroup_path));
    if (err == ENOTDIR) return not_cgroup2(spec);
    return attach_failed(spec, err, fmt::format("opening {} failed", spec.cgroup_path));
  }
  struct statfs fs {};
  if (::fstatfs(fd, &fs) != 0 || fs.f_type != CGROUP2_SUPER_MAGIC) {
    ::close(fd);
    return not_cgroup2(spec);
  }
  bpf_link* link = bpf_program__attach_cgroup(program, fd);
  int err = errno;
  ::close(fd);  // the link holds its own reference to the cgroup
  if (!link) return attach_failed(spec, err);
  log::debug("attached {}", spec.str());
  return Link::adopt(spec.str(), {link});
}

Result<Link> attach_sockmap(bpf_program* program, const Spec& spec, bpf_object* object) {
  const bool msg = spec.kind == Kind::sk_msg;
  if (bpf_program__type(program) != (msg ? BPF_PROG_TYPE_SK_MSG : BPF_PROG_TYPE_SK_SKB))
    return wrong_program_type(program, spec, msg ? std::string("sk_msg") : "sk_skb/" + spec.sk_point);
  auto map_fd = find_map(program, spec, object);
  if (!map_fd) return std::move(map_fd).take_error();
  bpf_map_type map_type = BPF_MAP_TYPE_UNSPEC;
  map_name_of(*map_fd, &map_type);
  if (map_type != BPF_MAP_TYPE_SOCKMAP && map_type != BPF_MAP_TYPE_SOCKHASH) {
    ::close(*map_fd);
    const char* name = libbpf_bpf_map_type_str(map_type);
    return make_error(ErrorKind::invalid_argument,
                      fmt::format("cannot attach {}: map \"{}\" is a {} map; {} programs attach to a sockmap or "
                                  "sockhash",
                                  spec.str(), spec.map, name ? name : "unknown", msg ? "sk_msg" : "sk_skb"));
  }
  // Own copies of both fds: the attachment must be removable even after the
  // object that created them is closed.
  int prog_fd = dup_fd(bpf_program__fd(program));
  bpf_attach_type type = sockmap_attach_type(spec);
  if (prog_fd < 0 || bpf_prog_attach(prog_fd, *map_fd, type, 0) != 0) {
    int err = errno;
    if (prog_fd >= 0) ::close(prog_fd);
    ::close(*map_fd);
    return attach_failed(spec, err);
  }
  log::debug("attached {}", spec.str());
  return Link::adopt_prog_attach(spec.str(), prog_fd, *map_fd, type);
}

}  // namespace ebpfrun::attach::detail

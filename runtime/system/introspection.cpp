#include "system/introspection.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <string_view>

#include <fmt/format.h>

#include "common/libbpf_log.h"

namespace ebpfrun::system {
namespace {

std::string or_number(const char* name, uint32_t value) { return name ? name : fmt::format("type {}", value); }

int64_t clock_ns(clockid_t clock) {
  struct timespec ts {};
  ::clock_gettime(clock, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// The function name recorded in the program's BTF (first func_info record).
std::string btf_function_name(uint32_t btf_id, uint32_t type_id) {
  if (btf_id == 0 || type_id == 0) return {};
  struct btf* btf = btf__load_from_kernel_by_id(btf_id);
  if (!btf) return {};
  std::string name;
  if (const struct btf_type* t = btf__type_by_id(btf, type_id)) name = btf__name_by_offset(btf, t->name_off);
  btf__free(btf);
  return name;
}

// Opens each id with `open_by_id`, runs `describe` on the fd, closes it.
template <typename Report, typename Open, typename Describe>
Status describe_ids(const std::vector<uint32_t>& ids, const char* what, Open open_by_id, Describe describe_fd,
                    std::vector<Report>& out) {
  for (uint32_t id : ids) {
    int fd = open_by_id(id);
    if (fd < 0) {
      int err = errno;
      if (err == ENOENT)
        return make_error(ErrorKind::not_found, fmt::format("BPF {} id {} no longer exists", what, id));
      if (err == EPERM)
        return make_error(ErrorKind::permission,
                          fmt::format("cannot open BPF {} id {}: opening BPF objects by id needs CAP_SYS_ADMIN; run "
                                      "as root",
                                      what, id));
      return make_errno_error(err, fmt::format("cannot open BPF {} id {}: {}", what, id, std::strerror(err)));
    }
    auto report = describe_fd(fd);
    ::close(fd);
    if (!report) return std::move(report).take_error();
    out.push_back(std::move(report).value());
  }
  return ok_status();
}

template <typename Report, typename Describe>
Status describe_fds(const std::vector<int>& fds, Describe describe_fd, std::vector<Report>& out) {
  for (int fd : fds) {
    auto report = describe_fd(fd);
    if (!report) return std::move(report).take_error();
    out.push_back(std::move(report).value());
  }
  return ok_status();
}

std::string format_duration_ns(uint64_t ns) {
  if (ns >= 1'000'000'000) return fmt::format("{:.2f} s", static_cast<double>(ns) / 1e9);
  if (ns >= 1'000'000) return fmt::format("{:.2f} ms", static_cast<double>(ns) / 1e6);
  if (ns >= 1'000) return fmt::format("{:.2f} us", static_cast<double>(ns) / 1e3);
  return fmt::format("{} ns", ns);
}

}  // namespace

std::chrono::system_clock::time_point boot_ns_to_wall_clock(uint64_t boot_ns) {
  const int64_t since = clock_ns(CLOCK_BOOTTIME) - static_cast<int64_t>(boot_ns);
  const int64_t wall = clock_ns(CLOCK_REALTIME) - since;
  return std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::nanoseconds(wall)));
}

Result<ProgramReport> describe_program(int fd) {
  log::route_libbpf_messages();
  struct bpf_prog_info info {};
  uint32_t len = sizeof info;
  if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0)
    return make_errno_error(errno,
                            fmt::format("cannot read the BPF program behind fd {}: {}", fd, std::strerror(errno)));

  // Second call for the variable-length parts: map ids and the first func_info
  // record (whose BTF type is the program's function).
  std::vector<uint32_t> map_ids(info.nr_map_ids);
  struct bpf_func_info func {};
  const uint32_t nr_maps = info.nr_map_ids, nr_funcs = info.nr_func_info;
  std::memset(&info, 0, sizeof info);
  info.nr_map_ids = nr_maps;
  info.map_ids = reinterpret_cast<uint64_t>(map_ids.data());
  if (nr_funcs > 0) {
    info.nr_func_info = 1;
    info.func_info_rec_size = sizeof func;
    info.func_info = reinterpret_cast<uint64_t>(&func);
  }
  len = sizeof info;
  if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0)
    return make_errno_error(errno,
                            fmt::format("cannot read the BPF program behind fd {}: {}", fd, std::strerror(errno)));

  ProgramReport report;
  report.id = info.id;
  report.type = or_number(libbpf_bpf_prog_type_str(static_cast<bpf_prog_type>(info.type)), info.type);
  report.name = btf_function_name(info.btf_id, nr_funcs > 0 ? func.type_id : 0);
  if (report.name.empty()) report.name = info.name;
  for (uint8_t byte : info.tag) report.tag += fmt::format("{:02x}", byte);
  report.loaded_at = boot_ns_to_wall_clock(info.load_time);
  report.run_count = info.run_cnt;
  report.run_time_ns = info.run_time_ns;
  report.recursion_misses = info.recursion_misses;
  report.verified_instructions = info.verified_insns;
  map_ids.resize(std::min<size_t>(map_ids.size(), info.nr_map_ids));
  report.map_ids = std::move(map_ids);
  return report;
}

Result<MapReport> describe_map(int fd) {
  struct bpf_map_info info {};
  uint32_t len = sizeof info;
  if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0)
    return make_errno_error(errno, fmt::format("cannot read the BPF map behind fd {}: {}", fd, std::strerror(errno)));
  MapReport report;
  report.id = info.id;
  report.type = or_number(libbpf_bpf_map_type_str(static_cast<bpf_map_type>(info.type)), info.type);
  report.name = info.name;
  report.key_size = info.key_size;
  report.value_size = info.value_size;
  report.max_entries = info.max_entries;
  report.flags = info.map_flags;
  return report;
}

Result<Inventory> describe(const OwnedObjects& owned) {
  Inventory inv;
  Status s = describe_fds(owned.program_fds, describe_program, inv.programs);
  if (s) s = describe_ids(owned.program_ids, "program", bpf_prog_get_fd_by_id, describe_program, inv.programs);
  if (s) s = describe_fds(owned.map_fds, describe_map, inv.maps);
  if (s) s = describe_ids(owned.map_ids, "map", bpf_map_get_fd_by_id, describe_map, inv.maps);
  if (s) s = describe_fds(owned.link_fds, describe_link, inv.links);
  if (s) s = describe_ids(owned.link_ids, "link", bpf_link_get_fd_by_id, describe_link, inv.links);
  if (!s) return std::move(s).take_error();
  for (auto& p : inv.programs)
    for (auto& l : inv.links) {
      if (l.program_id != p.id) continue;
      // libbpf attaches tp_btf programs with BPF_RAW_TRACEPOINT_OPEN, so the
      // kernel reports a raw_tracepoint link; the program type tells them apart.
      constexpr std::string_view kRaw = "raw_tracepoint/";
      if (p.type == "tracing" && l.attach_point.rfind(kRaw, 0) == 0)
        l.attach_point = "tp_btf/" + l.attach_point.substr(kRaw.size());
      p.attach_points.push_back(l.attach_point);
    }
  return inv;
}

std::string format_inventory(const Inventory& inv) {
  std::string out = fmt::format("{:>6}  {:<14} {:<24} {:<16} {:>10} {:>10} {:>10}  {}\n", "ID", "TYPE", "PROGRAM",
                                "TAG", "RUNS", "RUN TIME", "AVG", "ATTACHED TO");
  for (const auto& p : inv.programs) {
    std::string avg = p.run_count ? format_duration_ns(p.run_time_ns / p.run_count) : "-";
    std::string attached;
    for (const auto& a : p.attach_points) attached += (attached.empty() ? "" : ", ") + a;
    out += fmt::format("{:>6}  {:<14} {:<24} {:<16} {:>10} {:>10} {:>10}  {}\n", p.id, p.type, p.name, p.tag,
                       p.run_count, format_duration_ns(p.run_time_ns), avg, attached.empty() ? "-" : attached);
  }
  if (!inv.maps.empty()) {
    out += fmt::format("{:>6}  {:<14} {:<24} {:>8} {:>8} {:>12}\n", "ID", "MAP TYPE", "MAP", "KEY", "VALUE",
                       "MAX ENTRIES");
    for (const auto& m : inv.maps)
      out += fmt::format("{:>6}  {:<14} {:<24} {:>8} {:>8} {:>12}\n", m.id, m.type, m.name, m.key_size, m.value_size,
                         m.max_entries);
  }
  return out;
}

}  // namespace ebpfrun::system

#include "system/link_info.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <net/if.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string_view>

#include <fmt/format.h>

#include "common/libbpf_log.h"

namespace ebpfrun::system {
namespace {

// struct bpf_link_info as of Linux 6.6+. Debian 12's uapi headers (Linux 6.1)
// lack the perf_event, kprobe_multi, uprobe_multi, tcx, netkit and sockmap
// members, so the layout is spelled out here; the kernel only ever appends to
// the union, so older kernels fill a prefix and leave the rest zero.
struct RawTracepointInfo {
  uint64_t tp_name;
  uint32_t tp_name_len;
  uint32_t pad;
  uint64_t cookie;
};
struct TracingInfo {
  uint32_t attach_type, target_obj_id, target_btf_id, pad;
  uint64_t cookie;
};
struct CgroupInfo {
  uint64_t cgroup_id;
  uint32_t attach_type;
  uint32_t pad;
};
struct IterInfo {
  uint64_t target_name;
  uint32_t target_name_len;
  uint32_t map_id;
};
struct NetnsInfo {
  uint32_t netns_ino, attach_type;
};
// xdp (ifindex only), tcx, netkit.
struct IfindexInfo {
  uint32_t ifindex, attach_type;
};
// struct_ops (map_id only), sockmap.
struct MapLinkInfo {
  uint32_t map_id, attach_type;
};
struct NetfilterInfo {
  uint32_t pf, hooknum;
  int32_t priority;
  uint32_t flags;
};
struct KprobeMultiInfo {
  uint64_t addrs;
  uint32_t count, flags;
  uint64_t missed, cookies;
};
struct UprobeMultiInfo {
  uint64_t path, offsets, ref_ctr_offsets, cookies;
  uint32_t path_size, count, flags, pid;
};
// Every perf_event variant with a name keeps its pointer at +8 and length at
// +16; a raw perf event has its config and type there instead.
struct PerfEventInfo {
  uint32_t type, pad;
  uint64_t name;      // uprobe.file_name, kprobe.func_name, tracepoint.tp_name; event.config
  uint32_t name_len;  // event.type
  uint32_t offset;    // uprobe/kprobe offset
  uint64_t addr;      // kprobe.addr
  uint64_t more[2];
};

struct LinkInfoAbi {
  uint32_t type, id, prog_id, pad;
  union {
    RawTracepointInfo raw_tracepoint;
    TracingInfo tracing;
    CgroupInfo cgroup;
    IterInfo iter;
    NetnsInfo netns;
    IfindexInfo ifindex;
    MapLinkInfo map;
    NetfilterInfo netfilter;
    KprobeMultiInfo kprobe_multi;
    UprobeMultiInfo uprobe_multi;
    PerfEventInfo perf_event;
    uint8_t bytes[48];
  };
};
static_assert(sizeof(LinkInfoAbi) == 64, "struct bpf_link_info is 64 bytes since Linux 6.6");
static_assert(offsetof(LinkInfoAbi, perf_event) + offsetof(PerfEventInfo, name) == 24);

enum LinkType : uint32_t {
  kRawTracepoint = 1,
  kTracing = 2,
  kCgroup = 3,
  kIter = 4,
  kNetns = 5,
  kXdp = 6,
  kPerfEvent = 7,
  kKprobeMulti = 8,
  kStructOps = 9,
  kNetfilter = 10,
  kTcx = 11,
  kUprobeMulti = 12,
  kNetkit = 13,
  kSockmap = 14,
};
enum PerfEventType : uint32_t { kUprobe = 1, kUretprobe = 2, kKprobe = 3, kKretprobe = 4, kTracepoint = 5, kEvent = 6 };

std::string link_type_name(uint32_t type) {
  // libbpf 1.1.2 knows the link types up to struct_ops.
  static constexpr const char* kNewer[] = {"netfilter", "tcx", "uprobe_multi", "netkit", "sockmap"};
  if (const char* name = libbpf_bpf_link_type_str(static_cast<bpf_link_type>(type))) return name;
  if (type >= kNetfilter && type <= kSockmap) return kNewer[type - kNetfilter];
  return fmt::format("link type {}", type);
}

std::string attach_type_name(uint32_t type) {
  const char* name = libbpf_bpf_attach_type_str(static_cast<bpf_attach_type>(type));
  return name ? name : fmt::format("attach type {}", type);
}

std::string interface_name(uint32_t ifindex) {
  char buf[IF_NAMESIZE] = {};
  if (::if_indextoname(ifindex, buf)) return buf;
  return fmt::format("ifindex {}", ifindex);
}

struct BtfDeleter {
  void operator()(struct btf* b) const { btf__free(b); }
};
using BtfPtr = std::unique_ptr<struct btf, BtfDeleter>;

// Name of BTF type `type_id` in kernel BTF object `obj_id` (vmlinux or a module).
std::string kernel_btf_type_name(uint32_t obj_id, uint32_t type_id) {
  int fd = bpf_btf_get_fd_by_id(obj_id);
  if (fd < 0) return {};
  char object_name[64] = {};
  struct bpf_btf_info info {};
  info.name = reinterpret_cast<uint64_t>(object_name);
  info.name_len = sizeof object_name;
  uint32_t len = sizeof info;
  int rc = bpf_obj_get_info_by_fd(fd, &info, &len);
  ::close(fd);
  if (rc != 0) return {};
  BtfPtr vmlinux(btf__load_vmlinux_btf());
  if (!vmlinux) return {};
  BtfPtr module;
  struct btf* btf = vmlinux.get();
  if (std::string_view(object_name) != "vmlinux") {
    module.reset(btf__load_module_btf(object_name, vmlinux.get()));
    if (!module) return {};
    btf = module.get();
  }
  const struct btf_type* t = btf__type_by_id(btf, type_id);
  return t ? btf__name_by_offset(btf, t->name_off) : "";
}

std::string tracing_attach_point(const TracingInfo& t) {
  std::string kind;
  switch (t.attach_type) {
    case BPF_TRACE_RAW_TP:
      kind = "tp_btf";
      break;
    case BPF_TRACE_FENTRY:
      kind = "fentry";
      break;
    case BPF_TRACE_FEXIT:
      kind = "fexit";
      break;
    case BPF_MODIFY_RETURN:
      kind = "fmod_ret";
      break;
    case BPF_LSM_MAC:
      kind = "lsm";
      break;
    case BPF_TRACE_ITER:
      kind = "iter";
      break;
    default:
      kind = attach_type_name(t.attach_type);
  }
  std::string target = kernel_btf_type_name(t.target_obj_id, t.target_btf_id);
  // tp_btf attaches to the typedef btf_trace_<tracepoint>.
  constexpr std::string_view kPrefix = "btf_trace_";
  if (target.rfind(kPrefix, 0) == 0) target.erase(0, kPrefix.size());
  if (target.empty()) target = fmt::format("btf id {}", t.target_btf_id);
  return kind + "/" + target;
}

std::string perf_event_attach_point(const PerfEventInfo& p, const char* name) {
  switch (p.type) {
    case kUprobe:
    case kUretprobe:
      return fmt::format("{}/{}:{:#x}", p.type == kUprobe ? "uprobe" : "uretprobe", name, p.offset);
    case kKprobe:
    case kKretprobe: {
      std::string where = name[0] ? std::string(name) : fmt::format("{:#x}", p.addr);
      if (name[0] && p.offset) where += fmt::format("+{:#x}", p.offset);
      return fmt::format("{}/{}", p.type == kKprobe ? "kprobe" : "kretprobe", where);
    }
    case kTracepoint: {
      std::string category = tracepoint_category(name);
      return category.empty() ? fmt::format("tracepoint/{}", name) : fmt::format("tracepoint/{}/{}", category, name);
    }
    case kEvent:
      return fmt::format("perf_event/type={},config={}", p.name_len, p.name);
    default:
      return "perf_event";  // kernels before 6.6 say nothing more
  }
}

}  // namespace

std::string tracepoint_category(const std::string& name) {
  if (name.empty()) return {};
  std::error_code ec;
  for (const char* events : {"/sys/kernel/tracing/events", "/sys/kernel/debug/tracing/events"}) {
    std::filesystem::directory_iterator it(events, ec), end;
    if (ec) continue;
    for (; it != end; it.increment(ec)) {
      if (ec) break;
      if (std::filesystem::exists(it->path() / name / "id", ec)) return it->path().filename().string();
    }
  }
  return {};
}

Result<LinkReport> describe_link(int fd) {
  log::route_libbpf_messages();
  LinkInfoAbi info{};
  uint32_t len = sizeof info;
  // First ask for the type: which union member to hand name buffers to.
  if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0)
    return make_errno_error(errno, fmt::format("cannot read the BPF link behind fd {}: {}", fd, std::strerror(errno)));
  const uint32_t type = info.type;
  char name[PATH_MAX] = {};
  std::memset(&info, 0, sizeof info);
  switch (type) {
    case kRawTracepoint:
      info.raw_tracepoint.tp_name = reinterpret_cast<uint64_t>(name);
      info.raw_tracepoint.tp_name_len = sizeof name;
      break;
    case kIter:
      info.iter.target_name = reinterpret_cast<uint64_t>(name);
      info.iter.target_name_len = sizeof name;
      break;
    case kUprobeMulti:
      info.uprobe_multi.path = reinterpret_cast<uint64_t>(name);
      info.uprobe_multi.path_size = sizeof name;
      break;
    case kPerfEvent:
      info.perf_event.name = reinterpret_cast<uint64_t>(name);
      info.perf_event.name_len = sizeof name;
      break;
    default:
      break;
  }
  len = sizeof info;
  if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0)
    return make_errno_error(errno, fmt::format("cannot read the BPF link behind fd {}: {}", fd, std::strerror(errno)));

  LinkReport report;
  report.id = info.id;
  report.type = link_type_name(info.type);
  report.program_id = info.prog_id;
  switch (info.type) {
    case kRawTracepoint:
      report.attach_point = fmt::format("raw_tracepoint/{}", name);
      break;
    case kTracing:
      report.attach_point = tracing_attach_point(info.tracing);
      break;
    case kCgroup:
      report.attach_point =
          fmt::format("cgroup id {} ({})", info.cgroup.cgroup_id, attach_type_name(info.cgroup.attach_type));
      break;
    case kIter:
      report.attach_point = fmt::format("iter/{}", name);
      break;
    case kNetns:
      report.attach_point =
          fmt::format("netns inode {} ({})", info.netns.netns_ino, attach_type_name(info.netns.attach_type));
      break;
    case kXdp:
      report.attach_point = fmt::format("xdp/{}", interface_name(info.ifindex.ifindex));
      break;
    case kTcx:
    case kNetkit:
      report.attach_point =
          fmt::format("{}/{} ({})", info.type == kTcx ? "tcx" : "netkit", interface_name(info.ifindex.ifindex),
                      attach_type_name(info.ifindex.attach_type));
      break;
    case kPerfEvent:
      report.attach_point = perf_event_attach_point(info.perf_event, name);
      break;
    case kKprobeMulti:
      report.attach_point = fmt::format("kprobe_multi ({} functions)", info.kprobe_multi.count);
      break;
    case kUprobeMulti:
      report.attach_point = fmt::format("uprobe_multi/{} ({} offsets)", name, info.uprobe_multi.count);
      break;
    case kStructOps:
      report.attach_point = fmt::format("struct_ops map id {}", info.map.map_id);
      break;
    case kSockmap:
      report.attach_point =
          fmt::format("sockmap map id {} ({})", info.map.map_id, attach_type_name(info.map.attach_type));
      break;
    case kNetfilter:
      report.attach_point = fmt::format("netfilter pf {} hook {} priority {}", info.netfilter.pf,
                                        info.netfilter.hooknum, info.netfilter.priority);
      break;
    default:
      report.attach_point = report.type;
  }
  return report;
}

}  // namespace ebpfrun::system

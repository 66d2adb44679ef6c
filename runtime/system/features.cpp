#include "system/internal/features.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "common/libbpf_log.h"

namespace ebpfrun::system {
namespace {

// Which capability the kernel checks before it will load a program of a type
// or create a map of a type. Without it a probe fails with EPERM, which says
// nothing about the kernel, so the probe is skipped and the missing capability
// named instead.
enum class Need { bpf, trace, net };

struct ProgType {
  bpf_prog_type type;
  Need need;
  bool blocking;  // ebpfrun's own collectors cannot work without it
};

constexpr ProgType kProgTypes[] = {
    {BPF_PROG_TYPE_TRACEPOINT, Need::trace, true}, {BPF_PROG_TYPE_RAW_TRACEPOINT, Need::trace, false},
    {BPF_PROG_TYPE_KPROBE, Need::trace, false},    {BPF_PROG_TYPE_PERF_EVENT, Need::trace, false},
    {BPF_PROG_TYPE_CGROUP_SKB, Need::bpf, false},  {BPF_PROG_TYPE_SOCK_OPS, Need::net, false},
    {BPF_PROG_TYPE_SK_MSG, Need::net, false},      {BPF_PROG_TYPE_XDP, Need::net, false},
    {BPF_PROG_TYPE_SCHED_CLS, Need::net, false},
};

struct MapType {
  bpf_map_type type;
  Need need;
  bool blocking;
};

constexpr MapType kMapTypes[] = {
    {BPF_MAP_TYPE_HASH, Need::bpf, true},
    {BPF_MAP_TYPE_ARRAY, Need::bpf, true},
    {BPF_MAP_TYPE_PERCPU_HASH, Need::bpf, false},
    {BPF_MAP_TYPE_PERCPU_ARRAY, Need::bpf, false},
    {BPF_MAP_TYPE_LRU_HASH, Need::bpf, false},
    {BPF_MAP_TYPE_RINGBUF, Need::bpf, false},
    {BPF_MAP_TYPE_PERF_EVENT_ARRAY, Need::bpf, false},
    {BPF_MAP_TYPE_SOCKHASH, Need::net, false},
};

// The capability that is missing for `need`, or nullptr when we have it.
const char* missing_for(Need need, const Capabilities& caps) {
  switch (need) {
    case Need::bpf:
      return caps.can_bpf() ? nullptr : "CAP_BPF";
    case Need::trace:
      return caps.can_trace() ? nullptr : "CAP_PERFMON";
    case Need::net:
      return caps.has(kCapNetAdmin) || caps.has(kCapSysAdmin) ? nullptr : "CAP_NET_ADMIN";
  }
  return nullptr;
}

Check not_probed(std::string check_name, const std::string& what, const char* capability) {
  return make_check(std::move(check_name), CheckStatus::warning,
                    fmt::format("not probed: the kernel allows {} only for processes with {}, which this one lacks.",
                                what, capability));
}

struct Helper {
  bpf_func_id id;
  const char* name;
};

// Helpers the shipped collectors call from tracepoint programs.
constexpr Helper kHelpers[] = {
    {BPF_FUNC_ringbuf_reserve, "bpf_ringbuf_reserve"},
    {BPF_FUNC_probe_read_kernel, "bpf_probe_read_kernel"},
    {BPF_FUNC_probe_read_user, "bpf_probe_read_user"},
    {BPF_FUNC_get_current_task_btf, "bpf_get_current_task_btf"},
    {BPF_FUNC_get_current_cgroup_id, "bpf_get_current_cgroup_id"},
};

std::string or_number(const char* name, int value) { return name ? name : fmt::format("type {}", value); }

// Reads libbpf's tri-state answer: 1 yes, 0 no, <0 could not tell.
Check probe_answer(std::string check_name, int answer, const std::string& what, bool blocking) {
  if (answer == 1) return make_check(std::move(check_name), CheckStatus::ok, fmt::format("{} is supported.", what));
  if (answer == 0)
    return make_check(std::move(check_name), blocking ? CheckStatus::failed : CheckStatus::warning,
                      fmt::format("{} is not supported by this kernel; scripts that use it will fail to load.", what),
                      blocking);
  return make_check(
      std::move(check_name), CheckStatus::warning,
      fmt::format("could not tell whether {} is supported: the probe failed with {}.", what, std::strerror(-answer)));
}

struct BtfDeleter {
  void operator()(struct btf* b) const { btf__free(b); }
};
using BtfPtr = std::unique_ptr<struct btf, BtfDeleter>;

// r0 = 0; exit — the smallest program the verifier accepts.
void trivial_program(struct bpf_insn (&insns)[2]) {
  std::memset(insns, 0, sizeof insns);
  insns[0].code = BPF_ALU64 | BPF_MOV | BPF_K;
  insns[0].dst_reg = BPF_REG_0;
  insns[0].imm = 0;
  insns[1].code = BPF_JMP | BPF_EXIT;
}

// Loads a BPF_PROG_TYPE_TRACING program of `attach_type` against BTF type `btf_id`.
int load_tracing(bpf_attach_type attach_type, int btf_id, int& err) {
  struct bpf_insn insns[2];
  trivial_program(insns);
  LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = attach_type,
              .attach_btf_id = static_cast<__u32>(btf_id));
  int fd = bpf_prog_load(BPF_PROG_TYPE_TRACING, "ebpfrun_probe", "GPL", insns, 2, &opts);
  err = fd < 0 ? errno : 0;
  return fd;
}

}  // namespace

Check check_tp_btf() {
  log::route_libbpf_messages();
  const std::string name = "prog tracing (tp_btf)";
  BtfPtr vmlinux(btf__load_vmlinux_btf());
  if (!vmlinux)
    return make_check(name, CheckStatus::warning,
                      "cannot tell whether tp_btf programs work: the kernel has no BTF at /sys/kernel/btf/vmlinux, "
                      "and tp_btf needs it.");
  int id = btf__find_by_name_kind(vmlinux.get(), "btf_trace_sched_switch", BTF_KIND_TYPEDEF);
  if (id <= 0)
    return make_check(name, CheckStatus::warning,
                      "cannot tell whether tp_btf programs work: the kernel BTF has no btf_trace_sched_switch.");
  int err = 0;
  int fd = load_tracing(BPF_TRACE_RAW_TP, id, err);
  if (fd < 0)
    return make_check(name, CheckStatus::warning,
                      fmt::format("tp_btf programs are not available: the kernel refused a trivial one for "
                                  "sched_switch ({}); use tracepoints or raw_tp instead.",
                                  std::strerror(err)));
  ::close(fd);
  return make_check(name, CheckStatus::ok, "tracing programs (tp_btf, BTF-typed raw tracepoints) load.");
}

Check check_fentry() {
  log::route_libbpf_messages();
  BtfPtr vmlinux(btf__load_vmlinux_btf());
  if (!vmlinux)
    return make_check("fentry", CheckStatus::warning,
                      "cannot tell whether fentry/fexit work: the kernel has no BTF at /sys/kernel/btf/vmlinux, and "
                      "fentry needs it.");
  // bpf_fentry_test1 exists for exactly this kind of test; fall back to a
  // function every kernel has.
  std::string target = "bpf_fentry_test1";
  int id = btf__find_by_name_kind(vmlinux.get(), target.c_str(), BTF_KIND_FUNC);
  if (id <= 0) {
    target = "do_sys_openat2";
    id = btf__find_by_name_kind(vmlinux.get(), target.c_str(), BTF_KIND_FUNC);
  }
  if (id <= 0)
    return make_check("fentry", CheckStatus::warning,
                      "cannot tell whether fentry/fexit work: no test function found in the kernel BTF.");
  int err = 0;
  int fd = load_tracing(BPF_TRACE_FENTRY, id, err);
  if (fd < 0)
    return make_check("fentry", CheckStatus::warning,
                      fmt::format("fentry/fexit: not available — the kernel refused to load a trivial fentry program "
                                  "for {} ({}); use tracepoints/raw_tp/tp_btf/uprobes.",
                                  target, std::strerror(err)));
  int link = bpf_raw_tracepoint_open(nullptr, fd);
  int attach_err = link < 0 ? errno : 0;
  if (link >= 0) ::close(link);
  ::close(fd);
  if (link < 0)
    return make_check("fentry", CheckStatus::warning,
                      fmt::format("fentry/fexit: not available — a trivial fentry program for {} loads but cannot be "
                                  "attached ({}); use tracepoints/raw_tp/tp_btf/uprobes.",
                                  target, std::strerror(attach_err)));
  return make_check("fentry", CheckStatus::ok, "fentry/fexit programs load and attach.");
}

std::vector<Check> check_kernel_features(const Capabilities& caps) {
  log::route_libbpf_messages();
  std::vector<Check> checks;
  if (!caps.can_bpf()) {
    checks.push_back(
        make_check("kernel features", CheckStatus::warning,
                   "not probed: loading test programs needs CAP_BPF (or root), which this process lacks."));
    return checks;
  }
  for (const auto& p : kProgTypes) {
    std::string type = or_number(libbpf_bpf_prog_type_str(p.type), p.type);
    if (const char* missing = missing_for(p.need, caps)) {
      checks.push_back(not_probed("prog " + type, fmt::format("{} programs", type), missing));
      if (p.type == BPF_PROG_TYPE_RAW_TRACEPOINT)
        checks.push_back(not_probed("prog tracing (tp_btf)", "tp_btf programs", missing));
      continue;
    }
    Check c = probe_answer("prog " + type, libbpf_probe_bpf_prog_type(p.type, nullptr),
                           fmt::format("program type {}", type), p.blocking);
    // The kprobe program type also serves uprobes, so it loads even where
    // kprobes themselves are missing; say so to avoid a contradiction.
    if (p.type == BPF_PROG_TYPE_KPROBE && c.status == CheckStatus::ok)
      c.detail = "program type kprobe is supported (uprobes use it too; whether kprobes attach is the kprobes check).";
    checks.push_back(std::move(c));
    // libbpf cannot probe BPF_PROG_TYPE_TRACING without an attach target, so
    // it gets a real tp_btf load, listed right after the raw tracepoints.
    if (p.type == BPF_PROG_TYPE_RAW_TRACEPOINT) checks.push_back(check_tp_btf());
  }
  for (const auto& m : kMapTypes) {
    std::string type = or_number(libbpf_bpf_map_type_str(m.type), m.type);
    if (const char* missing = missing_for(m.need, caps)) {
      checks.push_back(not_probed("map " + type, fmt::format("{} maps", type), missing));
      continue;
    }
    checks.push_back(probe_answer("map " + type, libbpf_probe_bpf_map_type(m.type, nullptr),
                                  fmt::format("map type {}", type), m.blocking));
  }
  for (const auto& h : kHelpers) {
    if (const char* missing = missing_for(Need::trace, caps)) {
      checks.push_back(not_probed(fmt::format("helper {}", h.name), "tracepoint programs", missing));
      continue;
    }
    checks.push_back(probe_answer(fmt::format("helper {}", h.name),
                                  libbpf_probe_bpf_helper(BPF_PROG_TYPE_TRACEPOINT, h.id, nullptr),
                                  fmt::format("helper {} in tracepoint programs", h.name), false));
  }
  if (const char* missing = missing_for(Need::trace, caps))
    checks.push_back(not_probed("fentry", "fentry programs", missing));
  else
    checks.push_back(check_fentry());
  return checks;
}

}  // namespace ebpfrun::system

// runtime/attach — attach spec strings, parsed.
//
// A spec string such as "tracepoint/syscalls/sys_enter_openat" or
// "uprobe/libc:malloc" says where a loaded program goes. Parsing is pure (no
// kernel, no file system) so that every form and every malformed input can be
// unit-tested; resolving names against the running system happens at attach.
#pragma once

#include <linux/bpf.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace ebpfrun::attach {

enum class Kind {
  tracepoint,       // tracepoint/CATEGORY/NAME, tp/CATEGORY/NAME
  raw_tracepoint,   // raw_tracepoint/NAME, raw_tp/NAME
  tp_btf,           // tp_btf/NAME
  fentry,           // fentry/FUNCTION (refused by some kernels at load)
  fexit,            // fexit/FUNCTION
  uprobe,           // uprobe/PATH:SYMBOL[+OFFSET]
  uretprobe,        // uretprobe/PATH:SYMBOL
  usdt,             // usdt/PATH:PROVIDER:NAME
  kprobe,           // kprobe/SYMBOL[+OFFSET]
  kretprobe,        // kretprobe/SYMBOL
  kprobe_multi,     // kprobe.multi/PATTERN: every kernel function matching a glob, one link
  kretprobe_multi,  // kretprobe.multi/PATTERN
  perf_event,       // perf_event/EVENT[:freq=N|:period=N]
  cgroup,           // cgroup/TYPE:CGROUP_PATH
  sk_msg,           // sk_msg/MAP
  sk_skb,           // sk_skb/stream_verdict/MAP, sk_skb/stream_parser/MAP, sk_skb/verdict/MAP
};

// The parsed form. Only the fields of the spec's kind are set.
struct Spec {
  Kind kind = Kind::tracepoint;
  std::string category;       // tracepoint
  std::string name;           // tracepoint, raw_tracepoint, tp_btf, fentry/fexit function, USDT probe name
  std::string binary;         // uprobe, uretprobe, usdt: as written (a path or a library name)
  std::string symbol;         // uprobe, uretprobe, kprobe, kretprobe; the glob of kprobe.multi
  uint64_t offset = 0;        // uprobe, kprobe: bytes past the symbol
  std::string provider;       // usdt
  std::string event;          // perf_event: e.g. "cpu-clock"
  bool use_frequency = true;  // perf_event: sample `sample` times a second, else every `sample` events
  uint64_t sample = 99;
  std::string cgroup_type;  // cgroup: e.g. "sock_ops"
  std::string cgroup_path;
  std::string sk_point;  // sk_skb: "stream_verdict", "stream_parser" or "verdict"
  std::string map;       // sk_msg, sk_skb: the sockmap/sockhash name

  // The canonical spec string (long prefixes, e.g. "tracepoint/…" for "tp/…").
  std::string str() const;
};

Result<Spec> parse_spec(std::string_view text);

// The spec a libbpf SEC() name implies, for auto-attach: "tp/sched/x" gives
// "tracepoint/sched/x", "ksyscall/openat" gives "kprobe/__x64_sys_openat".
// Sections that need a target the name cannot carry (a bare "uprobe", a cgroup
// path, a sockmap, "perf_event") give an error naming the spec to pass instead.
Result<std::string> spec_from_section(std::string_view section);

// Every accepted form, one per line, for error messages and --help.
const char* accepted_forms();

// A cgroup attach point: its spec name, kernel attach type, the program type it
// takes and the SEC() name libbpf gives such programs.
struct CgroupType {
  const char* name;
  bpf_attach_type attach_type;
  bpf_prog_type prog_type;
  const char* section;
};
const CgroupType* find_cgroup_type(std::string_view name);
std::string cgroup_type_names();

// The kernel attach type of an sk_msg / sk_skb spec.
bpf_attach_type sockmap_attach_type(const Spec& spec);

}  // namespace ebpfrun::attach

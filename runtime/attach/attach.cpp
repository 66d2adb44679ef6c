#include "attach/attach.h"

#include <bpf/libbpf.h>
#include <signal.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "attach/internal/attach_internal.h"
#include "attach/kernel_names.h"
#include "attach/perf_events.h"
#include "attach/symbols.h"
#include "common/log.h"
#include "system/privileges.h"

namespace ebpfrun::attach {
namespace detail {

std::string describe(bpf_program* program) {
  const char* type = libbpf_bpf_prog_type_str(bpf_program__type(program));
  return fmt::format("program \"{}\" (SEC(\"{}\"), a {} program)", bpf_program__name(program),
                     bpf_program__section_name(program), type ? type : "unknown");
}

Error wrong_program_type(bpf_program* program, const Spec& spec, std::string_view wanted) {
  return make_error(ErrorKind::invalid_argument,
                    fmt::format("cannot attach {} as {}: that needs a program declared with SEC(\"{}\")",
                                describe(program), spec.str(), wanted));
}

// The privilege class of an attach kind, for naming what the kernel wanted
// when it said EPERM or EACCES.
system::Feature feature_of(Kind kind) {
  switch (kind) {
    case Kind::tracepoint:
      return system::Feature::tracepoints;
    case Kind::uprobe:
    case Kind::uretprobe:
    case Kind::usdt:
      return system::Feature::uprobes;
    case Kind::perf_event:
      return system::Feature::perf_events;
    case Kind::cgroup:
      return system::Feature::cgroup_programs;
    case Kind::sk_msg:
    case Kind::sk_skb:
      return system::Feature::socket_programs;
    default:
      return system::Feature::raw_tracepoints;
  }
}

Error attach_failed(const Spec& spec, int err, std::string_view detail) {
  std::string advice;
  if (std::string why = system::explain_refusal(feature_of(spec.kind), err); !why.empty()) advice = "; " + why;
  if (err == ESRCH) advice = "; the process to attach to does not exist";
  return make_errno_error(
      err, fmt::format("cannot attach {}: {}{}{}", spec.str(), detail.empty() ? "" : detail,
                       detail.empty() ? std::strerror(err) : fmt::format(" ({})", std::strerror(err)), advice));
}

}  // namespace detail

namespace {

using detail::attach_failed;
using detail::wrong_program_type;

// Wraps one libbpf link, or turns a NULL into an error from the call's errno.
Result<Link> single(const Spec& spec, bpf_link* link, int err, std::string_view detail = {}) {
  if (!link) return attach_failed(spec, err, detail);
  log::debug("attached {}", spec.str());
  return Link::adopt(spec.str(), {link});
}

// tp_btf / fentry / fexit programs are bound to their target when they are
// loaded; the spec can only confirm it.
Status check_load_time_target(bpf_program* program, const Spec& spec, std::string_view kind) {
  std::string_view section = bpf_program__section_name(program);
  size_t slash = section.find('/');
  if (slash == std::string_view::npos) return ok_status();  // target set with bpf_program__set_attach_target
  std::string_view target = section.substr(slash + 1);
  if (target == spec.name) return ok_status();
  return make_error(ErrorKind::invalid_argument,
                    fmt::format("cannot attach {} as {}: a {} program's target is fixed when it is loaded, and "
                                "this one was loaded for {}; declare it with SEC(\"{}/{}\")",
                                detail::describe(program), spec.str(), kind, target, kind, spec.name));
}

Result<Link> attach_tracepoint(bpf_program* program, const Spec& spec) {
  if (bpf_program__type(program) != BPF_PROG_TYPE_TRACEPOINT)
    return wrong_program_type(program, spec, fmt::format("tracepoint/{}/{}", spec.category, spec.name));
  auto dir = tracefs();
  if (!dir) return dir.error_info().with_message(fmt::format("cannot attach {}: {}", spec.str(), dir.error()));
  if (auto exists = check_tracepoint(*dir, spec); !exists)
    return exists.error_info().with_message(fmt::format("cannot attach {}: {}", spec.str(), exists.error()));
  bpf_link* link = bpf_program__attach_tracepoint(program, spec.category.c_str(), spec.name.c_str());
  return single(spec, link, errno);
}

Result<Link> attach_raw_tracepoint(bpf_program* program, const Spec& spec) {
  auto type = bpf_program__type(program);
  if (type != BPF_PROG_TYPE_RAW_TRACEPOINT && type != BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE)
    return wrong_program_type(program, spec, "raw_tracepoint/" + spec.name);
  bpf_link* link = bpf_program__attach_raw_tracepoint(program, spec.name.c_str());
  int err = errno;
  if (!link && err == ENOENT) {
    std::string hint = raw_tracepoint_suggestion(spec.name);
    return make_error(ErrorKind::not_found, fmt::format("cannot attach {}: the kernel has no raw tracepoint \"{}\"{}{}",
                                                        spec.str(), spec.name, hint.empty() ? "" : "; ", hint));
  }
  return single(spec, link, err);
}

Result<Link> attach_trace(bpf_program* program, const Spec& spec, bpf_attach_type want, std::string_view kind,
                          const AttachOptions& options) {
  if (bpf_program__type(program) != BPF_PROG_TYPE_TRACING || bpf_program__expected_attach_type(program) != want)
    return wrong_program_type(program, spec, fmt::format("{}/{}", kind, spec.name));
  if (!options.loaded_for_spec)
    if (auto target = check_load_time_target(program, spec, kind); !target) return std::move(target).take_error();
  bpf_link* link = bpf_program__attach_trace(program);
  return single(spec, link, errno);
}

Result<Link> attach_uprobe(bpf_program* program, const Spec& spec, const AttachOptions& options) {
  const bool ret = spec.kind == Kind::uretprobe;
  if (bpf_program__type(program) != BPF_PROG_TYPE_KPROBE)
    return wrong_program_type(program, spec, ret ? "uretprobe" : "uprobe");
  auto path = resolve_binary(spec.binary);
  if (!path) return path.error_info().with_message(fmt::format("cannot attach {}: {}", spec.str(), path.error()));
  if (auto found = check_function_symbol(*path, spec.symbol); !found)
    return found.error_info().with_message(fmt::format("cannot attach {}: {}", spec.str(), found.error()));
  LIBBPF_OPTS(bpf_uprobe_opts, opts, .retprobe = ret, .func_name = spec.symbol.c_str());
  bpf_link* link = bpf_program__attach_uprobe_opts(program, options.pid, path->c_str(), spec.offset, &opts);
  int err = errno;
  return single(spec, link, err, fmt::format("uprobe on {} in {}", spec.symbol, *path));
}

Result<Link> attach_usdt(bpf_program* program, const Spec& spec, const AttachOptions& options) {
  if (bpf_program__type(program) != BPF_PROG_TYPE_KPROBE) return wrong_program_type(program, spec, "usdt");
  auto path = resolve_binary(spec.binary);
  if (!path) return path.error_info().with_message(fmt::format("cannot attach {}: {}", spec.str(), path.error()));
  if (auto found = check_usdt_probe(*path, spec.provider, spec.name); !found)
    return found.error_info().with_message(fmt::format("cannot attach {}: {}", spec.str(), found.error()));
  bpf_link* link =
      bpf_program__attach_usdt(program, options.pid, path->c_str(), spec.provider.c_str(), spec.name.c_str(), nullptr);
  int err = errno;
  // libbpf says ESRCH both for a missing process and for missing USDT maps.
  if (!link && err == ESRCH && (options.pid < 0 || ::kill(options.pid, 0) == 0))
    return make_error(ErrorKind::invalid_argument,
                      fmt::format("cannot attach {}: the USDT support maps are missing from the object; "
                                  "#include <bpf/usdt.bpf.h> in the BPF source and declare the program with "
                                  "SEC(\"usdt\")",
                                  spec.str()));
  return single(spec, link, err, fmt::format("USDT probe {}:{} in {}", spec.provider, spec.name, *path));
}

Result<Link> attach_kprobe(bpf_program* program, const Spec& spec) {
  const bool ret = spec.kind == Kind::kretprobe;
  if (bpf_program__type(program) != BPF_PROG_TYPE_KPROBE ||
      bpf_program__expected_attach_type(program) == BPF_TRACE_KPROBE_MULTI)
    return wrong_program_type(program, spec, ret ? "kretprobe" : "kprobe");
  if (!kprobes_available()) return kprobes_unavailable(spec);
  LIBBPF_OPTS(bpf_kprobe_opts, opts, .offset = spec.offset, .retprobe = ret);
  bpf_link* link = bpf_program__attach_kprobe_opts(program, spec.symbol.c_str(), &opts);
  int err = errno;
  if (!link && (err == ENOENT || err == EINVAL))
    return make_error(ErrorKind::not_found,
                      fmt::format("cannot attach {}: the kernel function {} does not exist or cannot be probed "
                                  "(probe-able functions are listed in /sys/kernel/tracing/available_filter_functions)",
                                  spec.str(), spec.symbol));
  return single(spec, link, err);
}

// One link for every kernel function the glob matches (kernel 5.18 and later,
// with CONFIG_FPROBE); the program must have been loaded as kprobe.multi.
Result<Link> attach_kprobe_multi(bpf_program* program, const Spec& spec) {
  const bool ret = spec.kind == Kind::kretprobe_multi;
  if (bpf_program__type(program) != BPF_PROG_TYPE_KPROBE ||
      bpf_program__expected_attach_type(program) != BPF_TRACE_KPROBE_MULTI)
    return wrong_program_type(program, spec, ret ? "kretprobe.multi" : "kprobe.multi");
  if (!kprobes_available()) return kprobes_unavailable(spec);
  LIBBPF_OPTS(bpf_kprobe_multi_opts, opts, .retprobe = ret);
  bpf_link* link = bpf_program__attach_kprobe_multi_opts(program, spec.symbol.c_str(), &opts);
  int err = errno;
  if (!link && err == ENOENT)
    return make_error(ErrorKind::not_found,
                      fmt::format("cannot attach {}: no probe-able kernel function matches \"{}\" (they are listed "
                                  "in /sys/kernel/tracing/available_filter_functions; `ebpfrun -l 'kprobe/GLOB'`)",
                                  spec.str(), spec.symbol));
  if (!link && err == EOPNOTSUPP)
    return make_error(ErrorKind::not_supported,
                      fmt::format("cannot attach {}: this kernel has no multi-kprobe links (they need Linux 5.18 and "
                                  "CONFIG_FPROBE); attach kprobe/FUNCTION programs one by one instead",
                                  spec.str()));
  return single(spec, link, err);
}

Result<Link> attach_perf(bpf_program* program, const Spec& spec, const AttachOptions& options) {
  if (bpf_program__type(program) != BPF_PROG_TYPE_PERF_EVENT) return wrong_program_type(program, spec, "perf_event");
  auto links = attach_perf_event(program, spec, options.pid);
  if (!links) return std::move(links).take_error();
  return Link::adopt(spec.str(), std::move(*links));
}

bool scoped_by_pid(Kind kind) {
  return kind == Kind::uprobe || kind == Kind::uretprobe || kind == Kind::usdt || kind == Kind::perf_event;
}

}  // namespace

Result<Link> attach_program(bpf_program* program, std::string_view text, const AttachOptions& options) {
  auto spec = parse_spec(text);
  if (!spec) return std::move(spec).take_error();
  return attach_program(program, *spec, options);
}

Result<Link> attach_program(bpf_program* program, const Spec& spec, const AttachOptions& options) {
  if (!program)
    return make_error(ErrorKind::invalid_argument, fmt::format("cannot attach {}: no program was given", spec.str()));
  if (bpf_program__fd(program) < 0)
    return make_error(ErrorKind::invalid_argument,
                      fmt::format("cannot attach {}: program \"{}\" is not loaded; load its object first", spec.str(),
                                  bpf_program__name(program)));
  if (options.pid >= 0 && !scoped_by_pid(spec.kind))
    log::debug("{}: attach cannot be scoped to pid {}; the program sees every process", spec.str(), options.pid);
  switch (spec.kind) {
    case Kind::tracepoint:
      return attach_tracepoint(program, spec);
    case Kind::raw_tracepoint:
      return attach_raw_tracepoint(program, spec);
    case Kind::tp_btf:
      return attach_trace(program, spec, BPF_TRACE_RAW_TP, "tp_btf", options);
    case Kind::fentry:
      return attach_trace(program, spec, BPF_TRACE_FENTRY, "fentry", options);
    case Kind::fexit:
      return attach_trace(program, spec, BPF_TRACE_FEXIT, "fexit", options);
    case Kind::uprobe:
    case Kind::uretprobe:
      return attach_uprobe(program, spec, options);
    case Kind::usdt:
      return attach_usdt(program, spec, options);
    case Kind::kprobe:
    case Kind::kretprobe:
      return attach_kprobe(program, spec);
    case Kind::kprobe_multi:
    case Kind::kretprobe_multi:
      return attach_kprobe_multi(program, spec);
    case Kind::perf_event:
      return attach_perf(program, spec, options);
    case Kind::cgroup:
      return detail::attach_cgroup(program, spec);
    case Kind::sk_msg:
    case Kind::sk_skb:
      return detail::attach_sockmap(program, spec, options.object);
  }
  return make_error(ErrorKind::not_supported, fmt::format("cannot attach {}: unsupported kind", spec.str()));
}

}  // namespace ebpfrun::attach

#include "loader/internal/tp_btf_targets.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "btf/btf_identity.h"
#include "common/files.h"
#include "common/hash.h"
#include "common/log.h"
#include "loader/internal/elf_sections.h"
#include "loader/internal/kernel_btf.h"
#include "loader/internal/raw_btf.h"

namespace ebpfrun::loader::detail {
namespace {

constexpr std::string_view kTypePrefix = "btf_trace_";
// The first line of a cache file; a file without it is learnt again.
constexpr std::string_view kFileHeader = "ebpfrun tp_btf targets 1\n";

// Tracepoint name -> id of its btf_trace_ typedef in the running kernel's
// BTF. `complete` once every tracepoint of that BTF is in it.
std::mutex targets_mutex;
std::unordered_map<std::string, uint32_t> targets;
bool complete = false;
bool handler_registered = false;

// Module BTF objects this thread's current load binds programs to, and why
// it could not bind one.
thread_local std::vector<int> module_fds;
thread_local std::string binding_error;

bool is_tp_btf(std::string_view section) { return section == "tp_btf" || section.starts_with("tp_btf/"); }

std::string_view target_of(std::string_view section) {
  return section.size() > 7 && section.starts_with("tp_btf/") ? section.substr(7) : std::string_view();
}

// Every tracepoint of `kernel` into `into`, and the same as the text of a
// cache file.
std::string list_targets(const RawBtf& kernel, std::unordered_map<std::string, uint32_t>& into) {
  std::string text(kFileHeader);
  const uint32_t count = kernel.count();
  for (uint32_t id = 1; id < count; ++id) {
    const struct btf_type* t = kernel.type(id);
    if (!btf_is_typedef(t)) continue;
    std::string_view name = kernel.name(t->name_off);
    if (!name.starts_with(kTypePrefix)) continue;
    name.remove_prefix(kTypePrefix.size());
    into.emplace(name, id);
    text += fmt::format("{} {}\n", name, id);
  }
  return text;
}

// A cache file's "name id" lines; false, with `into` untouched, when any
// line is not one.
bool parse_targets(std::string_view text, std::unordered_map<std::string, uint32_t>& into) {
  if (!text.starts_with(kFileHeader)) return false;
  text.remove_prefix(kFileHeader.size());
  std::unordered_map<std::string, uint32_t> parsed;
  while (!text.empty()) {
    size_t end = text.find('\n'), space = text.find(' ');
    if (end == std::string_view::npos || space == std::string_view::npos || space == 0 || space > end) return false;
    uint32_t id = 0;
    auto [ptr, ec] = std::from_chars(text.data() + space + 1, text.data() + end, id);
    if (ec != std::errc() || ptr != text.data() + end || id == 0) return false;
    parsed.emplace(text.substr(0, space), id);
    text.remove_prefix(end + 1);
  }
  if (parsed.empty()) return false;
  into.merge(parsed);
  return true;
}

// Fills `targets` from the cache file or the whole kernel BTF; the caller
// holds targets_mutex.
void learn_all(KernelBtf& kernel) {
  std::string path;
  const std::string& cache_dir = kernel.cache_dir();
  if (!cache_dir.empty()) {
    if (auto hash = kernel.hash()) {
      KeyHasher key;
      key.add("tp_btf targets", 1).add("kernel", *hash);
      path = cache_dir + "/" + key.hex() + ".tp_btf";
      if (auto text = files::read(path); text && parse_targets(*text, targets)) {
        complete = true;
        return;
      }
    }
  }
  const RawBtf* whole = kernel.whole();
  if (!whole) return;  // the load fails for it, naming the tracepoint
  std::string text = list_targets(*whole, targets);
  complete = true;
  if (path.empty() || !files::make_dirs(cache_dir, 0700)) return;
  if (auto written = files::write_atomic(path, text, 0600); !written)
    log::debug("cannot cache the kernel's tp_btf targets in {}: {}", cache_dir, written.error());
  else
    log::debug("cached the kernel's {} tp_btf targets in {}", targets.size(), path);
}

// A module's tracepoint (the kernel's own BTF lacks it): the loaded modules'
// BTF searched as libbpf would, the module's BTF fd kept for the load.
bool find_in_modules(const std::string& tracepoint, int* btf_fd, uint32_t* type_id) {
  struct btf* vmlinux = btf__load_vmlinux_btf();
  if (!vmlinux) return false;
  const std::string type_name = std::string(kTypePrefix) + tracepoint;
  bool found = false;
  for (uint32_t id = 0; !found && bpf_btf_get_next_id(id, &id) == 0;) {
    int fd = bpf_btf_get_fd_by_id(id);
    if (fd < 0) continue;
    char name[64] = {};
    struct bpf_btf_info info {};
    info.name = reinterpret_cast<uintptr_t>(name);
    info.name_len = sizeof name;
    uint32_t length = sizeof info;
    if (bpf_obj_get_info_by_fd(fd, &info, &length) != 0 || !info.kernel_btf || std::string_view(name) == "vmlinux") {
      ::close(fd);
      continue;
    }
    struct btf* module = btf__load_from_kernel_by_id_split(id, vmlinux);
    // A module's BTF extends the kernel's: its own types come after those.
    int type = module ? btf__find_by_name_kind(module, type_name.c_str(), BTF_KIND_TYPEDEF) : -1;
    btf__free(module);
    if (type > 0 && static_cast<uint32_t>(type) >= btf__type_cnt(vmlinux)) {
      *btf_fd = fd;
      *type_id = static_cast<uint32_t>(type);
      found = true;
    } else {
      ::close(fd);
    }
  }
  btf__free(vmlinux);
  return found;
}

// libbpf's last step before it gives the kernel a program of this handler's.
int prepare_load(struct bpf_program* prog, struct bpf_prog_load_opts* opts, long /*cookie*/) {
  bpf_program__set_type(prog, BPF_PROG_TYPE_TRACING);
  opts->expected_attach_type = BPF_TRACE_RAW_TP;
  if (opts->attach_btf_id) return 0;  // bound already, by bpf_program__set_attach_target
  std::string_view section = bpf_program__section_name(prog);
  const std::string tracepoint(target_of(section));
  if (tracepoint.empty()) {
    binding_error = fmt::format(
        "program '{}' is declared SEC(\"{}\") and names no tracepoint: declare it "
        "SEC(\"tp_btf/NAME\")",
        bpf_program__name(prog), section);
    return -EINVAL;
  }
  {
    std::lock_guard lock(targets_mutex);
    // An object opened without a cache directory learns them here.
    if (!complete) {
      KernelBtf kernel{std::string()};
      learn_all(kernel);
    }
    if (auto it = targets.find(tracepoint); it != targets.end()) {
      opts->attach_btf_id = it->second;
      return 0;
    }
  }
  int fd = -1;
  uint32_t type_id = 0;
  if (find_in_modules(tracepoint, &fd, &type_id)) {
    module_fds.push_back(fd);
    opts->attach_btf_obj_fd = fd;
    opts->attach_btf_id = type_id;
    return 0;
  }
  binding_error = fmt::format(
      "program '{}' is declared SEC(\"{}\"), but the kernel has no tracepoint \"{}\" "
      "(its BTF has no type {}{})",
      bpf_program__name(prog), section, tracepoint, kTypePrefix, tracepoint);
  return -ESRCH;
}

// bpf_program__attach's step for this handler's programs, as libbpf's own
// handler attaches a tp_btf program.
int attach(const struct bpf_program* prog, long /*cookie*/, struct bpf_link** link) {
  *link = bpf_program__attach_trace(prog);
  return *link ? 0 : -errno;
}

}  // namespace

void bind_tp_btf_programs_here() {
  static std::once_flag once;
  std::call_once(once, [] {
    LIBBPF_OPTS(libbpf_prog_handler_opts, opts, .prog_prepare_load_fn = prepare_load, .prog_attach_fn = attach);
    int id = libbpf_register_prog_handler("tp_btf+", BPF_PROG_TYPE_RAW_TRACEPOINT, BPF_TRACE_RAW_TP, &opts);
    if (id < 0)
      log::debug("libbpf took no tp_btf program handler ({}); it binds tp_btf programs itself", id);
    else
      handler_registered = true;
  });
}

void learn_tp_btf_targets(std::string_view elf, KernelBtf& kernel) {
  if (!handler_registered) return;
  std::lock_guard lock(targets_mutex);
  // Known once for the process: an agent opens many objects.
  if (complete) return;
  for (auto section : read_sections(elf).program_sections)
    if (is_tp_btf(section)) {
      learn_all(kernel);
      return;
    }
}

std::string finish_tp_btf_binding() {
  for (int fd : module_fds) ::close(fd);
  module_fds.clear();
  return std::exchange(binding_error, std::string());
}

bpf_prog_type load_type(const bpf_program* prog) {
  const bpf_prog_type type = bpf_program__type(prog);
  if (handler_registered && type == BPF_PROG_TYPE_RAW_TRACEPOINT && is_tp_btf(bpf_program__section_name(prog)))
    return BPF_PROG_TYPE_TRACING;
  return type;
}

}  // namespace ebpfrun::loader::detail

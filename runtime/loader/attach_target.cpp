#include "loader/internal/attach_target.h"

#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include <cerrno>

namespace ebpfrun::loader::detail {

bool kernel_btf_has_target(bpf_attach_type type, const std::string& target) {
  struct btf* btf = btf__load_vmlinux_btf();
  if (!btf) return true;  // libbpf reports it
  std::string name = target;
  int kind = BTF_KIND_FUNC;
  if (type == BPF_TRACE_RAW_TP) {
    name = "btf_trace_" + target;
    kind = BTF_KIND_TYPEDEF;
  } else if (type == BPF_LSM_MAC) {
    name = "bpf_lsm_" + target;
  }
  bool found = btf__find_by_name_kind(btf, name.c_str(), kind) > 0;
  btf__free(btf);
  if (!found) errno = ENOENT;
  return found;
}

}  // namespace ebpfrun::loader::detail

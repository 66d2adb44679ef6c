#include "loader/internal/kernel_btf.h"

#include <cerrno>

#include "btf/btf_identity.h"

namespace ebpfrun::loader::detail {

std::optional<uint64_t> KernelBtf::hash() {
  if (auto known = types::known_kernel_btf(cache_dir_)) return known->hash;
  // A cache directory that never remembered the identity is new, so this
  // open cuts the BTF and reads it whole anyway: it is read once and hashed
  // in memory. Otherwise the cuts are likely there (from an earlier boot),
  // and the BTF is only streamed through the hash, with no 5.5 MB buffer.
  if (!cache_dir_.empty() && !types::has_kernel_btf_memo(cache_dir_)) {
    if (const RawBtf* btf = whole()) {
      const types::BtfIdentity identity{types::kKernelBtfPath, types::hash_btf(btf->bytes()), btf->bytes().size()};
      types::remember_kernel_btf(identity, cache_dir_);
      return identity.hash;
    }
  }
  auto identity = types::identify_btf(types::kKernelBtfPath, cache_dir_);
  if (!identity) return std::nullopt;
  return identity->hash;
}

const RawBtf* KernelBtf::whole() {
  if (!tried_) {
    tried_ = true;
    whole_ = RawBtf::read(types::kKernelBtfPath);
    if (!whole_) read_errno_ = errno;
  }
  if (!whole_) errno = read_errno_;
  return whole_ ? &*whole_ : nullptr;
}

}  // namespace ebpfrun::loader::detail

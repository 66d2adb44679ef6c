// The running kernel's BTF as one open of an object needs it (private to
// runtime/loader): its identity, which keys the cached CO-RE cut
// (core_btf.h) and tracepoint ids (tp_btf_targets.h), and, on a first run,
// its types, read at most once for both and released with this object.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "loader/internal/raw_btf.h"

namespace ebpfrun::loader::detail {

class KernelBtf {
 public:
  // `cache_dir`: where the cuts, tracepoint ids and the remembered identity
  // live; empty for none.
  explicit KernelBtf(std::string cache_dir) : cache_dir_(std::move(cache_dir)) {}
  KernelBtf(const KernelBtf&) = delete;
  KernelBtf& operator=(const KernelBtf&) = delete;

  const std::string& cache_dir() const { return cache_dir_; }
  // The kernel BTF's hash (btf_identity.h), without reading the BTF when it
  // is remembered; nothing when there is no kernel BTF.
  std::optional<uint64_t> hash();
  // The whole kernel BTF, read on the first call; nullptr (errno set) when it
  // cannot be read.
  const RawBtf* whole();

 private:
  std::string cache_dir_;
  std::optional<RawBtf> whole_;
  bool tried_ = false;
  int read_errno_ = 0;
};

}  // namespace ebpfrun::loader::detail

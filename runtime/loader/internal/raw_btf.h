// A BTF read into one buffer, or mapped, and indexed in place (private to
// runtime/loader).
//
// libbpf's btf__load_vmlinux_btf reads the kernel's 5.5 MB BTF into a buffer
// and copies it into a second: 11.6 MiB resident with its index, most of a
// tool's peak on the first start, which cuts the BTF for CO-RE (core_btf.h)
// and learns the tracepoints (tp_btf_targets.h). Those only walk types and
// read names, so this view holds the file once (or maps the kernel's pages),
// with 4 bytes of index per type.
#pragma once

#include <bpf/btf.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ebpfrun::loader::detail {

// Unmaps a mapped BTF file.
struct UnmapBtf {
  size_t size = 0;
  void operator()(char* mapping) const;
};

class RawBtf {
 public:
  // The BTF in `bytes` (a whole .BTF section or raw BTF file), or nothing
  // when it is malformed: a bad header, a section out of bounds, an unknown
  // kind or a type running past its section.
  static std::optional<RawBtf> parse(std::string bytes);
  // The BTF file at `path`: a sysfs file is mapped when the kernel allows it
  // (since Linux 6.16: no copy, no page of its own), anything else is read
  // into one buffer (of the size the file reports, grown when it has none).
  // Nothing, with errno set, when it cannot be read or parsed.
  static std::optional<RawBtf> read(const std::string& path);

  RawBtf(RawBtf&& other) noexcept { *this = std::move(other); }
  RawBtf& operator=(RawBtf&& other) noexcept;
  RawBtf(const RawBtf&) = delete;
  RawBtf& operator=(const RawBtf&) = delete;

  // Type ids run from 1 to count() - 1, as btf__type_cnt's.
  uint32_t count() const { return static_cast<uint32_t>(offsets_.size()); }
  // The type with this id, or nullptr (id 0 is void, and has none).
  const struct btf_type* type(uint32_t id) const;
  // The bytes of a type with what follows it (members, parameters, ...).
  std::string_view type_bytes(uint32_t id) const;
  // The string at `offset`, empty when it is out of bounds.
  std::string_view name(uint32_t offset) const;
  // The whole BTF as it was read.
  std::string_view bytes() const { return std::string_view(data(), size_); }

 private:
  RawBtf() = default;
  // Indexes the BTF held (owned_ or mapped_, size_ bytes); false when it is
  // malformed.
  bool index();
  const char* data() const { return mapped_ ? mapped_.get() : owned_.data(); }

  std::string owned_;
  std::unique_ptr<char, UnmapBtf> mapped_;
  size_t size_ = 0;
  size_t types_begin_ = 0;
  size_t strings_begin_ = 0;
  size_t strings_size_ = 0;
  std::vector<uint32_t> offsets_;  // offsets_[id]: the type's offset from types_begin_ (index 0 unused)
};

}  // namespace ebpfrun::loader::detail

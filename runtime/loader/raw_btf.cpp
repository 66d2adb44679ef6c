#include "loader/internal/raw_btf.h"

#include <fcntl.h>
#include <linux/btf.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace ebpfrun::loader::detail {
namespace {

// The bytes after a type's struct btf_type, by kind; -1 for a kind this
// reader does not know.
long trailing_bytes(const struct btf_type* t) {
  const long vlen = btf_vlen(t);
  switch (btf_kind(t)) {
    case BTF_KIND_INT:
      return sizeof(uint32_t);
    case BTF_KIND_PTR:
    case BTF_KIND_FWD:
    case BTF_KIND_TYPEDEF:
    case BTF_KIND_VOLATILE:
    case BTF_KIND_CONST:
    case BTF_KIND_RESTRICT:
    case BTF_KIND_FUNC:
    case BTF_KIND_FLOAT:
    case BTF_KIND_TYPE_TAG:
      return 0;
    case BTF_KIND_ARRAY:
      return sizeof(struct btf_array);
    case BTF_KIND_STRUCT:
    case BTF_KIND_UNION:
      return vlen * static_cast<long>(sizeof(struct btf_member));
    case BTF_KIND_ENUM:
      return vlen * static_cast<long>(sizeof(struct btf_enum));
    case BTF_KIND_ENUM64:
      return vlen * static_cast<long>(sizeof(struct btf_enum64));
    case BTF_KIND_FUNC_PROTO:
      return vlen * static_cast<long>(sizeof(struct btf_param));
    case BTF_KIND_VAR:
      return sizeof(struct btf_var);
    case BTF_KIND_DATASEC:
      return vlen * static_cast<long>(sizeof(struct btf_var_secinfo));
    case BTF_KIND_DECL_TAG:
      return sizeof(struct btf_decl_tag);
    default:
      return -1;
  }
}

}  // namespace

void UnmapBtf::operator()(char* mapping) const { ::munmap(mapping, size); }

RawBtf& RawBtf::operator=(RawBtf&& other) noexcept {
  // The sizes go with the bytes: a moved-from view is an empty one.
  owned_ = std::move(other.owned_);
  mapped_ = std::move(other.mapped_);
  size_ = std::exchange(other.size_, 0);
  types_begin_ = std::exchange(other.types_begin_, 0);
  strings_begin_ = std::exchange(other.strings_begin_, 0);
  strings_size_ = std::exchange(other.strings_size_, 0);
  offsets_ = std::move(other.offsets_);
  other.offsets_.clear();
  return *this;
}

std::optional<RawBtf> RawBtf::parse(std::string bytes) {
  RawBtf btf;
  btf.size_ = bytes.size();
  btf.owned_ = std::move(bytes);
  if (!btf.index()) return std::nullopt;
  return btf;
}

bool RawBtf::index() {
  const char* bytes = data();
  struct btf_header header;
  if (size_ < sizeof header) return false;
  std::memcpy(&header, bytes, sizeof header);
  if (header.magic != BTF_MAGIC || header.hdr_len < sizeof header || header.hdr_len > size_) return false;
  const size_t body = size_ - header.hdr_len;
  if (header.type_off % 4 != 0 || header.type_off > body || body - header.type_off < header.type_len ||
      header.str_off > body || body - header.str_off < header.str_len || header.str_len == 0)
    return false;
  types_begin_ = header.hdr_len + header.type_off;
  strings_begin_ = header.hdr_len + header.str_off;
  strings_size_ = header.str_len;
  // The types are read in place as struct btf_type: the buffer must be
  // 4-byte aligned where they start (a heap buffer or a mapping is).
  if (reinterpret_cast<uintptr_t>(bytes + types_begin_) % alignof(struct btf_type) != 0) return false;
  offsets_.reserve(header.type_len / 16 + 1);
  offsets_.push_back(0);  // id 0, void
  size_t at = 0;
  while (at < header.type_len) {
    if (header.type_len - at < sizeof(struct btf_type)) return false;
    const auto* t = reinterpret_cast<const struct btf_type*>(bytes + types_begin_ + at);
    const long extra = trailing_bytes(t);
    if (extra < 0 || header.type_len - at - sizeof(struct btf_type) < static_cast<size_t>(extra)) return false;
    offsets_.push_back(static_cast<uint32_t>(at));
    at += sizeof(struct btf_type) + static_cast<size_t>(extra);
  }
  return true;
}

std::optional<RawBtf> RawBtf::read(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  struct stat st {};
  const bool sized = ::fstat(fd, &st) == 0 && st.st_size > 0;
  // Only sysfs files are mapped: they cannot shrink under the mapping, where
  // a regular file truncated meanwhile would kill the process with SIGBUS.
  if (sized && path.starts_with("/sys/")) {
    const auto size = static_cast<size_t>(st.st_size);
    void* mapping = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (mapping != MAP_FAILED) {
      ::close(fd);
      RawBtf btf;
      btf.mapped_ = std::unique_ptr<char, UnmapBtf>(static_cast<char*>(mapping), UnmapBtf{size});
      btf.size_ = size;
      if (!btf.index()) {
        errno = EINVAL;
        return std::nullopt;
      }
      return btf;
    }
  }
  // Else read straight into a buffer of the file's size: sysfs gives 4 KiB
  // per read(), and no chunk is copied again.
  std::string bytes(sized ? static_cast<size_t>(st.st_size) : 64 * 1024, '\0');
  size_t filled = 0;
  for (;;) {
    char extra = 0;
    const bool full = filled == bytes.size();
    ssize_t n = full ? ::read(fd, &extra, 1) : ::read(fd, bytes.data() + filled, bytes.size() - filled);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      errno = err;
      return std::nullopt;
    }
    if (n == 0) break;
    if (full) {
      // Longer than it said (or of no stated size): grow.
      bytes.resize(bytes.size() * 2);
      bytes[filled] = extra;
    }
    filled += static_cast<size_t>(n);
  }
  ::close(fd);
  bytes.resize(filled);
  auto parsed = parse(std::move(bytes));
  if (!parsed) errno = EINVAL;
  return parsed;
}

const struct btf_type* RawBtf::type(uint32_t id) const {
  if (id == 0 || id >= offsets_.size()) return nullptr;
  return reinterpret_cast<const struct btf_type*>(data() + types_begin_ + offsets_[id]);
}

std::string_view RawBtf::type_bytes(uint32_t id) const {
  const struct btf_type* t = type(id);
  if (!t) return {};
  return std::string_view(reinterpret_cast<const char*>(t), sizeof *t + static_cast<size_t>(trailing_bytes(t)));
}

std::string_view RawBtf::name(uint32_t offset) const {
  if (offset >= strings_size_) return {};
  std::string_view rest(data() + strings_begin_ + offset, strings_size_ - offset);
  return rest.substr(0, rest.find('\0'));
}

}  // namespace ebpfrun::loader::detail

#include "btf/btf_identity.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <mutex>
#include <vector>

#include <fmt/format.h>

#include "btf/internal/btf_file.h"
#include "common/files.h"
#include "common/hash.h"
#include "common/log.h"

namespace ebpfrun::types {
namespace {

// The hash is taken over 64 KiB blocks, each block's hash seeding the next,
// so that a file can be hashed a block at a time with no 5.5 MB buffer
// resident, and a buffer already in memory gives the same value. Changing
// either changes every cache key (and wants kMemoHeader's version bumped).
constexpr size_t kBlock = 64 * 1024;
constexpr uint64_t kSeed = 0x6b65726e656c;

}  // namespace

namespace detail {

Error missing_btf(const std::string& path, int err) {
  if (path == kKernelBtfPath && err == ENOENT)
    return make_error(
        ErrorKind::not_supported,
        fmt::format(
            "no kernel BTF at {}: this kernel was built without CONFIG_DEBUG_INFO_BTF, so kernel types are unknown; "
            "pass --btf PATH with a BTF file for this kernel (for example from btfhub)",
            path),
        err);
  return make_errno_error(err, fmt::format("cannot read BTF file {}: {}", path, std::strerror(err)));
}

std::optional<uint64_t> hash_btf_stream(int fd, uint64_t* bytes) {
  // A block is hashed only when full (or at the end): sysfs returns 4 KiB per
  // read() and a regular file 64 KiB, and the hash must be the content's alone.
  std::vector<char> block(kBlock);
  uint64_t hash = kSeed;
  *bytes = 0;
  size_t used = 0;
  for (;;) {
    ssize_t n = ::read(fd, block.data() + used, block.size() - used);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::nullopt;
    if (n == 0) break;
    used += static_cast<size_t>(n);
    *bytes += static_cast<uint64_t>(n);
    if (used == block.size()) {
      hash = xxh64(std::string_view(block.data(), used), hash);
      used = 0;
    }
  }
  if (used > 0) hash = xxh64(std::string_view(block.data(), used), hash);
  return hash;
}

}  // namespace detail

namespace {

constexpr std::string_view kMemoHeader = "ebpfrun kernel btf identity 1\n";
constexpr const char* kMemoFile = "/kernel-btf.identity";
constexpr const char* kBootIdPath = "/proc/sys/kernel/random/boot_id";

std::mutex kernel_mutex;
std::optional<BtfIdentity> kernel_identity;

// This boot's id (36 characters), or empty when /proc does not tell it.
std::string boot_id() {
  auto text = files::read(kBootIdPath);
  if (!text) return {};
  std::string id = std::move(text).value();
  while (!id.empty() && (id.back() == '\n' || id.back() == ' ')) id.pop_back();
  return id;
}

// The size of the kernel's BTF file now (sysfs reports it), or 0.
uint64_t kernel_btf_size() {
  struct stat st {};
  if (::stat(kKernelBtfPath, &st) != 0 || st.st_size <= 0) return 0;
  return static_cast<uint64_t>(st.st_size);
}

// "boot <id>\nsize <bytes>\nhash <hex>\n" after the header.
std::string memo_text(const std::string& boot, const BtfIdentity& identity) {
  return fmt::format("{}boot {}\nsize {}\nhash {:016x}\n", kMemoHeader, boot, identity.size, identity.hash);
}

// The identity a memo file holds when it was written during this boot for a
// BTF of the size the kernel's has now; nothing for any other file.
std::optional<BtfIdentity> read_memo(const std::string& memo_dir) {
  auto text = files::read(memo_dir + kMemoFile);
  if (!text) return std::nullopt;
  const std::string boot = boot_id();
  const uint64_t size = kernel_btf_size();
  if (boot.empty() || size == 0) return std::nullopt;
  const std::string expected = fmt::format("{}boot {}\nsize {}\nhash ", kMemoHeader, boot, size);
  std::string_view rest(*text);
  if (!rest.starts_with(expected)) return std::nullopt;
  rest.remove_prefix(expected.size());
  constexpr size_t kDigits = 16;
  if (rest.size() != kDigits + 1 || rest.back() != '\n') return std::nullopt;
  uint64_t hash = 0;
  auto [end, ec] = std::from_chars(rest.data(), rest.data() + kDigits, hash, 16);
  if (ec != std::errc() || end != rest.data() + kDigits) return std::nullopt;
  return BtfIdentity{kKernelBtfPath, hash, size};
}

// Writes this boot's memo of `identity` into `memo_dir` (a failure only
// costs a later run the hash).
void write_memo(const BtfIdentity& identity, const std::string& memo_dir) {
  const std::string boot = boot_id();
  if (boot.empty()) return;
  if (auto dir = files::make_dirs(memo_dir, 0700); !dir) return;
  if (auto written = files::write_atomic(memo_dir + kMemoFile, memo_text(boot, identity), 0600); !written)
    log::debug("cannot remember the kernel BTF's identity in {}: {}", memo_dir, written.error());
}

}  // namespace

uint64_t hash_btf(std::string_view bytes) {
  uint64_t hash = kSeed;
  for (size_t at = 0; at < bytes.size(); at += kBlock) hash = xxh64(bytes.substr(at, kBlock), hash);
  return hash;
}

std::optional<BtfIdentity> known_kernel_btf(const std::string& memo_dir) {
  {
    std::lock_guard lock(kernel_mutex);
    if (kernel_identity) return kernel_identity;
  }
  if (memo_dir.empty()) return std::nullopt;
  auto remembered = read_memo(memo_dir);
  if (remembered) {
    std::lock_guard lock(kernel_mutex);
    kernel_identity = remembered;
  }
  return remembered;
}

bool has_kernel_btf_memo(const std::string& memo_dir) {
  return !memo_dir.empty() && files::exists(memo_dir + kMemoFile);
}

void remember_kernel_btf(const BtfIdentity& identity, const std::string& memo_dir) {
  {
    std::lock_guard lock(kernel_mutex);
    kernel_identity = identity;
  }
  if (!memo_dir.empty()) write_memo(identity, memo_dir);
}

Result<BtfIdentity> identify_btf(const std::string& path, const std::string& memo_dir) {
  const bool is_kernel = path == kKernelBtfPath;
  if (is_kernel)
    if (auto known = known_kernel_btf(memo_dir)) return *known;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return detail::missing_btf(path, errno);
  struct stat st {};
  if (::fstat(fd, &st) != 0 || st.st_size <= 0) {
    ::close(fd);
    return make_error(ErrorKind::invalid_argument, fmt::format("BTF file {} is empty or unreadable", path));
  }
  BtfIdentity identity{path, 0, static_cast<uint64_t>(st.st_size)};
  // The kernel's BTF is mapped where the kernel allows it (sysfs, since
  // Linux 6.16): no copy through 4 KiB reads. Other files are read: one
  // truncated while mapped would kill the process with SIGBUS.
  const auto size = static_cast<size_t>(st.st_size);
  void* mapping = is_kernel ? ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
  if (mapping != MAP_FAILED) {
    identity.hash = hash_btf(std::string_view(static_cast<const char*>(mapping), size));
    ::munmap(mapping, size);
  } else {
    uint64_t filled = 0;
    auto hash = detail::hash_btf_stream(fd, &filled);
    if (!hash) {
      int err = errno;
      ::close(fd);
      return detail::missing_btf(path, err);
    }
    if (filled != identity.size) {
      ::close(fd);
      return make_error(ErrorKind::invalid_argument, fmt::format("short read of BTF file {}", path));
    }
    identity.hash = *hash;
  }
  ::close(fd);
  if (is_kernel) remember_kernel_btf(identity, memo_dir);
  return identity;
}

}  // namespace ebpfrun::types

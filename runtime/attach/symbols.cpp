#include "attach/symbols.h"

#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <utility>

#include <fmt/format.h>

#include "attach/nearest.h"

namespace ebpfrun::attach {
namespace {

namespace fs = std::filesystem;

#if defined(__x86_64__)
constexpr const char* kMultiarch = "x86_64-linux-gnu";
constexpr const char* kLdconfigArch = "x86-64";
#elif defined(__aarch64__)
constexpr const char* kMultiarch = "aarch64-linux-gnu";
constexpr const char* kLdconfigArch = "AArch64";
#else
constexpr const char* kMultiarch = "";
constexpr const char* kLdconfigArch = "";
#endif

// An open ELF file; closes itself.
class ElfFile {
 public:
  static Result<ElfFile> open(const std::string& path) {
    if (elf_version(EV_CURRENT) == EV_NONE)
      return make_error(ErrorKind::not_supported, "libelf is too old for this program (elf_version failed)");
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      int err = errno;
      return make_errno_error(err, fmt::format("cannot open {}: {}", path, std::strerror(err)));
    }
    Elf* elf = elf_begin(fd, ELF_C_READ_MMAP, nullptr);
    if (!elf || elf_kind(elf) != ELF_K_ELF) {
      if (elf) elf_end(elf);
      ::close(fd);
      return make_error(ErrorKind::invalid_argument,
                        fmt::format("{} is not an ELF executable or shared library", path));
    }
    return ElfFile(fd, elf);
  }
  ElfFile(ElfFile&& other) noexcept : fd_(std::exchange(other.fd_, -1)), elf_(std::exchange(other.elf_, nullptr)) {}
  ElfFile(const ElfFile&) = delete;
  ElfFile& operator=(const ElfFile&) = delete;
  ElfFile& operator=(ElfFile&&) = delete;
  ~ElfFile() {
    if (elf_) elf_end(elf_);
    if (fd_ >= 0) ::close(fd_);
  }
  Elf* get() const { return elf_; }

 private:
  ElfFile(int fd, Elf* elf) : fd_(fd), elf_(elf) {}
  int fd_ = -1;
  Elf* elf_ = nullptr;
};

bool is_elf_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  return in.read(magic, 4) && std::memcmp(magic,
                                          "\x7f"
                                          "ELF",
                                          4) == 0;
}

// (soname, path) pairs of this architecture from the dynamic linker's cache.
const std::vector<std::pair<std::string, std::string>>& ldconfig_cache() {
  static const auto cache = [] {
    std::vector<std::pair<std::string, std::string>> out;
    for (const char* command : {"/sbin/ldconfig -p 2>/dev/null", "/usr/sbin/ldconfig -p 2>/dev/null"}) {
      FILE* pipe = ::popen(command, "r");
      if (!pipe) continue;
      char line[4096];
      // Lines look like: "\tlibc.so.6 (libc6,x86-64) => /lib/x86_64-linux-gnu/libc.so.6".
      while (std::fgets(line, sizeof line, pipe)) {
        std::string_view l(line);
        size_t open = l.find(" ("), close = l.find(") => ");
        if (open == std::string_view::npos || close == std::string_view::npos) continue;
        std::string_view flags = l.substr(open + 2, close - open - 2);
        if (*kLdconfigArch && flags.find(kLdconfigArch) == std::string_view::npos) continue;
        std::string_view soname = l.substr(0, open), path = l.substr(close + 5);
        while (!soname.empty() && (soname.front() == '\t' || soname.front() == ' ')) soname.remove_prefix(1);
        while (!path.empty() && (path.back() == '\n' || path.back() == ' ')) path.remove_suffix(1);
        out.emplace_back(std::string(soname), std::string(path));
      }
      int status = ::pclose(pipe);
      if (status == 0 && !out.empty()) break;
    }
    return out;
  }();
  return cache;
}

// "libc" matches "libc.so.6", "libc.so" matches "libc.so.6"; an exact soname wins.
std::string find_library(const std::string& name) {
  std::string best;
  for (const auto& [soname, path] : ldconfig_cache()) {
    if (soname == name && is_elf_file(path)) return path;
    bool versioned = soname.starts_with(name.find(".so") == std::string::npos ? name + ".so" : name);
    if (versioned && best.empty() && is_elf_file(path)) best = path;
  }
  if (!best.empty()) return best;
  std::vector<std::string> dirs;
  if (*kMultiarch) dirs = {fmt::format("/lib/{}", kMultiarch), fmt::format("/usr/lib/{}", kMultiarch)};
  dirs.insert(dirs.end(), {"/lib", "/usr/lib", "/lib64", "/usr/lib64"});
  for (const auto& dir : dirs) {
    for (const std::string& candidate : {dir + "/" + name, dir + "/" + name + ".so"})
      if (is_elf_file(candidate)) return candidate;
    // The unversioned .so is often a linker script; take a versioned file instead.
    std::vector<std::string> versioned;
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      std::string file = it->path().filename().string();
      if (file.starts_with(name + ".so.") && is_elf_file(it->path().string())) versioned.push_back(it->path().string());
    }
    if (!versioned.empty()) return *std::min_element(versioned.begin(), versioned.end());
  }
  return {};
}

std::string find_in_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string_view dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  while (!dirs.empty()) {
    size_t colon = dirs.find(':');
    std::string candidate = fmt::format("{}/{}", dirs.substr(0, colon), name);
    if (::access(candidate.c_str(), X_OK) == 0 && is_elf_file(candidate)) return candidate;
    dirs.remove_prefix(colon == std::string_view::npos ? dirs.size() : colon + 1);
  }
  return {};
}

// Calls `visit(section_header, section)` for every section of the file.
void for_each_section(Elf* elf, const std::function<void(const GElf_Shdr&, Elf_Scn*)>& visit) {
  for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn; scn = elf_nextscn(elf, scn)) {
    GElf_Shdr shdr;
    if (gelf_getshdr(scn, &shdr)) visit(shdr, scn);
  }
}

}  // namespace

Result<std::string> resolve_binary(const std::string& name) {
  if (name.find('/') != std::string::npos) {
    std::error_code ec;
    if (!fs::exists(name, ec)) return make_error(ErrorKind::not_found, fmt::format("binary {} does not exist", name));
    if (!fs::is_regular_file(name, ec))
      return make_error(ErrorKind::invalid_argument,
                        fmt::format("{} is not a regular file (an ELF binary is needed)", name));
    // Absolute, so that the probe does not depend on our working directory.
    auto absolute = fs::absolute(name, ec);
    return ec ? name : absolute.string();
  }
  bool library_like = name.starts_with("lib") || name.find(".so") != std::string::npos;
  std::string found = library_like ? find_library(name) : find_in_path(name);
  if (found.empty() && !library_like) found = find_library(name);
  if (!found.empty()) return found;
  return make_error(ErrorKind::not_found,
                    fmt::format("cannot find \"{}\": it is not in the dynamic linker cache (ldconfig -p), the "
                                "standard library directories or $PATH; give the binary's full path",
                                name));
}

Result<std::vector<std::string>> function_symbols(const std::string& path) {
  auto file = ElfFile::open(path);
  if (!file) return std::move(file).take_error();
  Elf* elf = file->get();
  std::vector<std::string> names;
  for_each_section(elf, [&](const GElf_Shdr& shdr, Elf_Scn* scn) {
    if ((shdr.sh_type != SHT_SYMTAB && shdr.sh_type != SHT_DYNSYM) || shdr.sh_entsize == 0) return;
    Elf_Data* data = elf_getdata(scn, nullptr);
    if (!data) return;
    size_t count = shdr.sh_size / shdr.sh_entsize;
    for (size_t i = 0; i < count; ++i) {
      GElf_Sym sym;
      if (!gelf_getsym(data, static_cast<int>(i), &sym)) continue;
      int type = GELF_ST_TYPE(sym.st_info);
      if ((type != STT_FUNC && type != STT_GNU_IFUNC) || sym.st_shndx == SHN_UNDEF || sym.st_value == 0) continue;
      const char* name = elf_strptr(elf, shdr.sh_link, sym.st_name);
      if (!name || !*name) continue;
      std::string_view n(name);
      names.emplace_back(n.substr(0, n.find('@')));
    }
  });
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

Status check_function_symbol(const std::string& path, const std::string& symbol) {
  auto names = function_symbols(path);
  if (!names) return std::move(names).take_error();
  std::string bare = symbol.substr(0, symbol.find('@'));
  if (std::binary_search(names->begin(), names->end(), bare)) return ok_status();
  auto close = nearest(bare, *names);
  std::string hint = close.empty() ? fmt::format("it has {} function symbols and none is close{}", names->size(),
                                                 names->empty() ? " (is the binary stripped?)" : "")
                                   : fmt::format("did you mean {}?", join_alternatives(close, "\"", "\""));
  return make_error(ErrorKind::not_found, fmt::format("function \"{}\" is not defined in {}; {}", bare, path, hint));
}

Result<std::vector<UsdtProbe>> usdt_probes(const std::string& path) {
  auto file = ElfFile::open(path);
  if (!file) return std::move(file).take_error();
  Elf* elf = file->get();
  size_t strings = 0;
  if (elf_getshdrstrndx(elf, &strings) != 0)
    return make_error(ErrorKind::invalid_argument, fmt::format("{} has no section names", path));
  const size_t address_size = gelf_getclass(elf) == ELFCLASS32 ? 4 : 8;
  std::vector<UsdtProbe> out;
  for_each_section(elf, [&](const GElf_Shdr& shdr, Elf_Scn* scn) {
    const char* section = elf_strptr(elf, strings, shdr.sh_name);
    if (shdr.sh_type != SHT_NOTE || !section || std::strcmp(section, ".note.stapsdt") != 0) return;
    Elf_Data* data = elf_getdata(scn, nullptr);
    if (!data) return;
    GElf_Nhdr note;
    size_t name_at = 0, desc_at = 0;
    for (size_t at = 0; (at = gelf_getnote(data, at, &note, &name_at, &desc_at)) > 0;) {
      // The descriptor is pc, base and semaphore addresses, then "provider\0name\0args\0".
      if (note.n_type != 3 || note.n_descsz < 3 * address_size) continue;
      const char* desc = static_cast<const char*>(data->d_buf) + desc_at;
      std::string_view strings_part(desc + 3 * address_size, note.n_descsz - 3 * address_size);
      size_t first = strings_part.find('\0');
      if (first == std::string_view::npos) continue;
      size_t second = strings_part.find('\0', first + 1);
      if (second == std::string_view::npos) continue;
      out.push_back({std::string(strings_part.substr(0, first)),
                     std::string(strings_part.substr(first + 1, second - first - 1))});
    }
  });
  return out;
}

Status check_usdt_probe(const std::string& path, const std::string& provider, const std::string& name) {
  auto probes = usdt_probes(path);
  if (!probes) return std::move(probes).take_error();
  std::vector<std::string> all;
  for (const auto& probe : *probes) {
    if (probe.provider == provider && probe.name == name) return ok_status();
    all.push_back(probe.provider + ":" + probe.name);
  }
  std::sort(all.begin(), all.end());
  all.erase(std::unique(all.begin(), all.end()), all.end());
  if (all.empty())
    return make_error(
        ErrorKind::not_found,
        fmt::format("{} has no USDT probes (no .note.stapsdt section); was it built with <sys/sdt.h> probes?", path));
  auto close = nearest(provider + ":" + name, all);
  if (close.empty() && all.size() <= 5) close = all;
  std::string hint = close.empty() ? fmt::format("it has {} probes and none is close", all.size())
                                   : fmt::format("did you mean {}?", join_alternatives(close, "\"", "\""));
  return make_error(ErrorKind::not_found, fmt::format("USDT probe {}:{} is not in {}; {}", provider, name, path, hint));
}

}  // namespace ebpfrun::attach

#include "compiler/object_cache.h"

#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include <fmt/format.h>

#include "common/files.h"
#include "common/hash.h"
#include "common/log.h"

namespace ebpfrun::compiler {
namespace {

constexpr std::string_view kMagic = "EBPFRUN-OBJECT 1\n";

// Reads one '\n'-terminated line starting at `pos`, advancing it.
bool next_line(std::string_view data, size_t& pos, std::string_view& line) {
  size_t end = data.find('\n', pos);
  if (end == std::string_view::npos) return false;
  line = data.substr(pos, end - pos);
  pos = end + 1;
  return true;
}

bool parse_u64(std::string_view text, uint64_t& out, int base = 10) {
  if (text.empty()) return false;
  char* end = nullptr;
  std::string copy(text);
  out = std::strtoull(copy.c_str(), &end, base);
  return end && *end == '\0';
}

std::string hash_file(const std::string& path) {
  auto contents = files::read(path);
  return contents ? to_hex(xxh64(*contents)) : std::string("missing");
}

// True for "NAME.tmp.PID" when no process PID exists any more.
bool is_abandoned_temporary(std::string_view name) {
  size_t mark = name.rfind(".tmp.");
  if (mark == std::string_view::npos) return false;
  uint64_t pid = 0;
  if (!parse_u64(name.substr(mark + 5), pid) || pid == 0 || pid > 0x7fffffff) return false;
  return ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH;
}

void remove_abandoned_in(const std::string& dir, int depth) {
  DIR* listing = ::opendir(dir.c_str());
  if (!listing) return;
  while (const dirent* entry = ::readdir(listing)) {
    std::string_view name = entry->d_name;
    if (name == "." || name == "..") continue;
    std::string path = dir + "/" + std::string(name);
    if (entry->d_type == DT_DIR && depth > 0)
      remove_abandoned_in(path, depth - 1);
    else if (is_abandoned_temporary(name) && ::unlink(path.c_str()) == 0)
      log::debug("removed {}, left by a killed run", path);
  }
  ::closedir(listing);
}

}  // namespace

void ObjectCache::remove_stale_temporaries() const {
  remove_abandoned_in(dir_ + "/objects", 0);
  remove_abandoned_in(dir_ + "/btf", 1);
}

std::string ObjectCache::default_dir() {
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) return std::string(xdg) + "/ebpfrun";
  if (::geteuid() == 0) return "/var/cache/ebpfrun";
  if (const char* home = std::getenv("HOME"); home && *home) return std::string(home) + "/.cache/ebpfrun";
  return "/tmp/ebpfrun-cache-" + std::to_string(::geteuid());
}

Result<ObjectCache> ObjectCache::open(std::string dir) {
  if (auto made = files::make_dirs(dir + "/objects", 0700); !made)
    return made.error_info().with_message(fmt::format("cannot use cache directory {}: {}", dir, made.error()));
  return ObjectCache(std::move(dir));
}

std::string ObjectCache::entry_path(const std::string& key) const { return dir_ + "/objects/" + key + ".entry"; }

std::string ObjectCache::btf_dir(uint64_t btf_hash) const { return dir_ + "/btf/" + to_hex(btf_hash); }

ObjectCache::Lookup ObjectCache::find(const std::string& key) const {
  auto data = files::read(entry_path(key));
  if (!data) return {State::miss, {}, {}};
  std::string_view view(*data);
  auto corrupt = [&](std::string why) { return Lookup{State::corrupt, {}, std::move(why)}; };
  if (view.substr(0, kMagic.size()) != kMagic) return corrupt("bad header");
  size_t pos = kMagic.size();
  std::string_view line;
  if (!next_line(view, pos, line) || line != "key " + key) return corrupt("key mismatch");
  uint64_t dep_count = 0;
  if (!next_line(view, pos, line) || line.substr(0, 5) != "deps " || !parse_u64(line.substr(5), dep_count))
    return corrupt("bad dependency count");
  std::vector<std::pair<std::string, std::string>> deps;
  for (uint64_t i = 0; i < dep_count; ++i) {
    if (!next_line(view, pos, line) || line.size() < 18 || line[16] != ' ') return corrupt("bad dependency line");
    deps.emplace_back(std::string(line.substr(0, 16)), std::string(line.substr(17)));
  }
  uint64_t size = 0, checksum = 0;
  if (!next_line(view, pos, line)) return corrupt("missing object header");
  std::istringstream header{std::string(line)};
  std::string word, hex;
  if (!(header >> word >> size >> hex) || word != "object" || !parse_u64(hex, checksum, 16))
    return corrupt("bad object header");
  if (view.size() - pos != size) return corrupt("object size mismatch");
  std::string_view object = view.substr(pos);
  if (xxh64(object) != checksum) return corrupt("object checksum mismatch");
  for (const auto& [hash, path] : deps)
    if (hash_file(path) != hash) return {State::stale, {}, path + " changed"};
  return {State::hit, std::string(object), {}};
}

Status ObjectCache::store(const std::string& key, std::string_view object,
                          const std::vector<std::string>& dependencies) const {
  std::string entry(kMagic);
  entry += fmt::format("key {}\ndeps {}\n", key, dependencies.size());
  for (const auto& path : dependencies) entry += fmt::format("{} {}\n", hash_file(path), path);
  entry += fmt::format("object {} {}\n", object.size(), to_hex(xxh64(object)));
  entry.append(object);
  return files::write_atomic(entry_path(key), entry, 0600);
}

}  // namespace ebpfrun::compiler

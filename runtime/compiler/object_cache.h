// On-disk cache of compiled BPF objects, and the home of the per-BTF artifacts
// (vmlinux.h and the precompiled header).
//
// An entry is keyed by a hash of everything that is known before compiling
// (source after filter substitution, flags, embedded headers, compiler, BTF).
// The headers a source includes are only known after compiling, so each entry
// also records the files the compile read with a hash of their contents, and a
// lookup re-hashes them: an edited header makes the entry stale. Entries carry
// a checksum, so a truncated or corrupted entry is detected and rebuilt.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace ebpfrun::compiler {

class ObjectCache {
 public:
  enum class State { hit, miss, stale, corrupt };
  struct Lookup {
    State state = State::miss;
    std::string object;  // the ELF, on a hit
    std::string detail;  // why it was stale or corrupt, for -v
  };

  // $XDG_CACHE_HOME/ebpfrun if set; else /var/cache/ebpfrun for root; else ~/.cache/ebpfrun.
  static std::string default_dir();
  // Where, in cache directory `dir`, the loader keeps the kernel BTF's cuts,
  // its tracepoint ids and its remembered identity (loader/core_btf.h,
  // btf/btf_identity.h); the compiler looks the identity up there too.
  static std::string core_btf_dir(const std::string& dir) { return dir + "/core-btf"; }
  // Creates the directory (mode 0700: cached objects reveal what is being traced).
  static Result<ObjectCache> open(std::string dir);

  Lookup find(const std::string& key) const;
  Status store(const std::string& key, std::string_view object, const std::vector<std::string>& dependencies) const;

  // Removes temporary files (NAME.tmp.PID) whose writer is gone, left by a
  // run that was killed while it wrote to the cache.
  void remove_stale_temporaries() const;

  const std::string& dir() const { return dir_; }
  std::string entry_path(const std::string& key) const;
  // Directory for artifacts derived from one BTF blob (vmlinux.h, PCH).
  std::string btf_dir(uint64_t btf_hash) const;

 private:
  explicit ObjectCache(std::string dir) : dir_(std::move(dir)) {}
  std::string dir_;
};

}  // namespace ebpfrun::compiler

// runtime/loader — a BPF object (ELF) opened and loaded with libbpf.
//
// Object owns the libbpf bpf_object and with it every program and map fd it
// created, plus the links attached through it: close() (or the destructor)
// detaches the links first, then releases programs and maps. It is movable,
// not copyable, and built only through the checked factory.
//
// Programs and maps of a loaded object are reached through ProgramInfo and
// maps::Map handles: libbpf's bpf_object owns those fds, so they are views that
// stay valid while their Object is open.
#pragma once

#include <linux/bpf.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

struct bpf_object;
struct bpf_program;
struct bpf_map;

namespace ebpfrun::loader {

struct ProgramSummary {
  std::string name;
  std::string section;
  std::string type;  // e.g. "tracepoint"
  size_t instructions = 0;
  int fd = -1;
  uint32_t id = 0;  // kernel id once loaded
  // False when loading was switched off (LoadOptions::autoload) or an optional
  // program was refused and skipped: the program is in the object, unloaded.
  bool autoload = true;
};

struct MapSummary {
  std::string name;
  std::string type;  // e.g. "hash"
  uint32_t key_size = 0;
  uint32_t value_size = 0;
  uint32_t max_entries = 0;
  int fd = -1;
  uint32_t id = 0;
  std::string pin_path;  // where it is pinned, if it is
};

struct OpenOptions {
  // Maps declared with `__uint(pinning, LIBBPF_PIN_BY_NAME)` are pinned under
  // <pin_root>/<pin_namespace>/<map name>, and an existing compatible pin is
  // reused by the next load. Namespaces keep unrelated tools apart.
  std::string pin_namespace = "default";
  std::string pin_root = "/sys/fs/bpf/ebpfrun";
  // CO-RE relocations against a small BTF cut from the kernel's (core_btf.h)
  // cached in this directory, instead of libbpf reading the whole kernel BTF
  // (11 MiB resident at the load), and the kernel's tracepoint type ids that
  // tp_btf programs are bound with (internal/tp_btf_targets.h). Empty: the
  // whole kernel BTF for CO-RE, the ids learnt afresh by each process.
  std::string core_btf_cache_dir;
  // The BTF to relocate against, when set (libbpf's btf_custom_path). Open
  // fills it from core_btf_cache_dir.
  std::string core_btf_path;
};

struct LoadOptions {
  // Per-program verifier log buffer; grown (up to max) and the load retried
  // when the log of a rejected program was truncated.
  size_t initial_log_size = 256 * 1024;
  size_t max_log_size = 64 * 1024 * 1024;
  // Programs whose loading is switched on or off by name (libbpf's
  // bpf_program__set_autoload): one switched off stays in the object unloaded,
  // and attach_all passes it over. Unknown names are an error.
  std::map<std::string, bool> autoload;
  // Programs the object can do without: when the kernel refuses one of them,
  // it is left unloaded with a note (Object::notes) and the rest loads. This
  // takes extra loads of the object, only when something was refused.
  std::set<std::string> optional;
};

// How to load a second copy of a program as another type (an attach
// alternative): the program type, its expected attach type and, for tp_btf /
// fentry / fexit, the kernel function or tracepoint it is bound to at load.
struct ProgramVariant {
  bpf_prog_type type = BPF_PROG_TYPE_UNSPEC;
  bpf_attach_type expected_attach_type = static_cast<bpf_attach_type>(0);
  std::string attach_target;
};

// Raises the soft RLIMIT_NOFILE to the hard limit, as bpftool and bpftrace
// do at start: every program, map and link is a file descriptor, and a big
// object (thousands of programs) would otherwise fail at the common soft
// limit of 1024. Returns the new soft limit.
unsigned long long raise_open_file_limit();

// Something attached through an Object; destroyed before the Object's programs.
class Attachment {
 public:
  virtual ~Attachment() = default;
  // Kernel ids of the BPF links it holds and fds of programs it loaded itself
  // (an attach alternative's own copy), for --stats.
  virtual std::vector<uint32_t> link_ids() const { return {}; }
  virtual std::vector<int> program_fds() const { return {}; }
};

class Object {
 public:
  // Parses ELF bytes (a copy is kept so that a load can be retried). `name`
  // labels the object in messages.
  static Result<Object> open(std::string_view elf, const std::string& name, const OpenOptions& options = {});
  // The same, keeping `elf` itself rather than a copy: one object's bytes
  // fewer resident while it loads.
  static Result<Object> open_owned(std::string elf, const std::string& name, const OpenOptions& options = {});
  Object(Object&& other) noexcept;
  Object& operator=(Object&& other) noexcept;
  Object(const Object&) = delete;
  Object& operator=(const Object&) = delete;
  ~Object();

  // Loads every program and creates (or reuses pinned) maps in the kernel. A
  // verifier rejection names the program, shows the verifier's last lines and
  // the C source line; the full log is kept in verifier_log().
  Status load(const LoadOptions& options = {});
  // Detaches everything attached through this object, then unloads it.
  void close();

  // A copy of program `program` alone, loaded as `variant` into an object of
  // its own that shares this (loaded) object's maps, so that what the copy
  // records is read through this object. Used for attach alternatives whose
  // program type differs from the one SEC() gave. The copy must be closed
  // before this object (keep() it here).
  Result<Object> load_variant(std::string_view program, const ProgramVariant& variant) const;

  // What happened on the way that a person may want to know: optional programs
  // skipped, which alternative a program was attached as. Shown with -v and
  // by --stats.
  const std::vector<std::string>& notes() const { return notes_; }
  void add_note(std::string note) { notes_.push_back(std::move(note)); }

  bool is_open() const { return object_ != nullptr; }
  bool loaded() const { return loaded_; }
  const std::string& name() const { return name_; }
  const std::string& verifier_log() const { return verifier_log_; }
  std::string pin_directory() const;

  std::vector<ProgramSummary> programs() const;
  std::vector<MapSummary> maps() const;
  bpf_program* find_program(std::string_view name) const;
  bpf_map* find_map(std::string_view name) const;
  bpf_object* raw() const { return object_; }

  // Writes `bytes` at `offset` of an internal map's (.rodata, .data, .bss)
  // initial value, before load. Kept, so that reopening the object to retry
  // a load with a bigger verifier log keeps every value set (loader/globals.h).
  Status write_initial(bpf_map* map, size_t offset, std::string_view bytes);

  // Keeps an attachment alive for as long as the object is open.
  void keep(std::unique_ptr<Attachment> attachment) { attachments_.push_back(std::move(attachment)); }
  size_t attachment_count() const { return attachments_.size(); }
  // What every attachment reports (Attachment::link_ids / program_fds).
  std::vector<uint32_t> attachment_link_ids() const;
  std::vector<int> attachment_program_fds() const;

 private:
  Object(bpf_object* object, std::string name, std::string elf, OpenOptions options)
      : object_(object), name_(std::move(name)), elf_(std::move(elf)), options_(std::move(options)) {}
  Status check_pinned_maps() const;
  Status reopen();
  // Applies what must be set on every freshly opened bpf_object before load:
  // autoload switches, a variant's type and target, reused maps.
  Status prepare();
  Status load_once(const LoadOptions& options);
  Status load_without_refused_optionals(const LoadOptions& options, Status first_failure);

  bpf_object* object_ = nullptr;
  std::string name_;
  std::string elf_;
  OpenOptions options_;
  bool loaded_ = false;
  std::string verifier_log_;
  struct InitialWrite {
    std::string map;
    size_t offset;
    std::string bytes;
  };
  std::vector<InitialWrite> initial_writes_;
  std::vector<std::unique_ptr<Attachment>> attachments_;
  std::set<std::string> disabled_;  // programs not to load
  std::set<std::string> optional_;
  std::vector<std::string> notes_;
  // A variant copy (load_variant): the one program it loads and how, and the
  // object whose maps it shares; set only while it loads.
  std::string variant_program_;
  std::optional<ProgramVariant> variant_;
  const Object* maps_from_ = nullptr;
};

}  // namespace ebpfrun::loader

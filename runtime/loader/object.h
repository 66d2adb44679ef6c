// runtime/loader — a BPF object (ELF) opened and loaded with libbpf.
//
// Object owns the libbpf bpf_object and with it every program and map fd it
// created; destroying or closing it releases them (and later, its links). It is
// movable, not copyable, and built only through the checked factory.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

struct bpf_object;

namespace ebpfrun::loader {

struct ProgramSummary {
  std::string name;
  std::string section;
  std::string type;  // e.g. "tracepoint"
  size_t instructions = 0;
  int fd = -1;
  uint32_t id = 0;  // kernel id once loaded
};

struct MapSummary {
  std::string name;
  std::string type;  // e.g. "hash"
  uint32_t key_size = 0;
  uint32_t value_size = 0;
  uint32_t max_entries = 0;
  int fd = -1;
  uint32_t id = 0;
};

class Object {
 public:
  // Parses ELF bytes (copied by libbpf). `name` labels the object in messages.
  static Result<Object> open(std::string_view elf, const std::string& name);
  Object(Object&& other) noexcept;
  Object& operator=(Object&& other) noexcept;
  Object(const Object&) = delete;
  Object& operator=(const Object&) = delete;
  ~Object();

  // Loads every program and creates every map in the kernel.
  Status load();
  void close();

  bool loaded() const { return loaded_; }
  const std::string& name() const { return name_; }
  std::vector<ProgramSummary> programs() const;
  std::vector<MapSummary> maps() const;
  bpf_object* raw() const { return object_; }

 private:
  Object(bpf_object* object, std::string name) : object_(object), name_(std::move(name)) {}
  bpf_object* object_ = nullptr;
  std::string name_;
  bool loaded_ = false;
};

// Routes libbpf's own messages into our logger (shown with -v). Idempotent.
void route_libbpf_messages();

}  // namespace ebpfrun::loader

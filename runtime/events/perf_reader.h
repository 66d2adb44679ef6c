// PerfBufReader: reads a BPF_MAP_TYPE_PERF_EVENT_ARRAY map.
//
// Each CPU writes into its own buffer of `pages_per_cpu` pages, so records from
// one CPU arrive in order but records from different CPUs interleave only
// roughly. When a CPU's buffer is full the kernel drops the sample and later
// writes a "lost N samples" record; those counts add up to `lost`.
//
// A record's size as the kernel reports it includes padding: the kernel rounds
// each sample so that it ends on an 8-byte boundary, so a 16-byte struct comes
// back as 20 bytes. Read the struct from the front and ignore the tail.
//
// The reader duplicates the map fd: libbpf still needs it when the reader is
// destroyed (to clear the CPU slots), whatever happened to the object.
#pragma once

#include <memory>
#include <string>

#include "common/result.h"
#include "events/source.h"
#include "events/unique_fd.h"

struct perf_buffer;

namespace ebpfrun::loader {
class Object;
}

namespace ebpfrun::events {

class PerfBufReader final : public EventSource {
 public:
  // 64 pages (256 KiB on x86-64) per CPU, as perf tools commonly use.
  static constexpr size_t kDefaultPagesPerCpu = 64;

  // Opens the perf event array `map_name` of a loaded object. `pages_per_cpu`
  // must be a power of two.
  static Result<PerfBufReader> open(const loader::Object& object, const std::string& map_name,
                                    size_t pages_per_cpu = kDefaultPagesPerCpu);
  // The same from a map fd, which is duplicated (the caller keeps its own).
  static Result<PerfBufReader> from_fd(const std::string& name, int map_fd, size_t pages_per_cpu = kDefaultPagesPerCpu);

  PerfBufReader(PerfBufReader&& other) noexcept;
  PerfBufReader& operator=(PerfBufReader&& other) noexcept;
  PerfBufReader(const PerfBufReader&) = delete;
  PerfBufReader& operator=(const PerfBufReader&) = delete;
  ~PerfBufReader() override;

  const std::string& name() const override { return name_; }
  int epoll_fd() const override;
  // Drains every CPU's buffer. libbpf's perf callbacks cannot stop midway, so
  // this may fill more than one batch; the memory that takes is bounded by the
  // buffers' total size.
  Result<bool> consume(BatchQueue& queue, ReaderId id) override;
  ReaderStats stats() const override;

  // Number of per-CPU buffers (one per online CPU).
  size_t buffer_count() const;

  // The libbpf callback context, defined in the .cpp file.
  struct State;

 private:
  PerfBufReader() = default;
  void release();

  std::string name_;
  UniqueFd map_fd_;
  // libbpf's callback context; on the heap so that it stays put when the reader moves.
  std::unique_ptr<State> state_;
  perf_buffer* buffer_ = nullptr;
};

}  // namespace ebpfrun::events

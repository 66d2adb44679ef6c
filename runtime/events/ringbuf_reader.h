// RingBufReader: reads a BPF_MAP_TYPE_RINGBUF map (kernel 5.8+).
//
// One ring buffer is shared by all CPUs, so its records arrive in the order they
// were reserved. When it is full, bpf_ringbuf_reserve() fails in the BPF program
// and the kernel counts nothing; probes that use EBPFRUN_RINGBUF_WITH_DROPS from
// bpf/ebpfrun_events.h count those failures in a NAME_drops per-CPU map, which
// this reader finds by name and reports as `dropped`.
//
// The reader duplicates the map fds it is given, so it stays valid (and keeps
// the maps alive) even if the loader::Object that created them closes first.
#pragma once

#include <memory>
#include <string>

#include "common/result.h"
#include "events/source.h"
#include "events/unique_fd.h"

struct ring_buffer;

namespace ebpfrun::loader {
class Object;
}

namespace ebpfrun::events {

class RingBufReader final : public EventSource {
 public:
  // Opens the ring buffer map `map_name` of a loaded object, with its drop
  // counter `<map_name>_drops` when the object declares one.
  static Result<RingBufReader> open(const loader::Object& object, const std::string& map_name);
  // The same from map fds, which are duplicated (the caller keeps its own).
  // `drops_fd` is -1 when there is no drop counter.
  static Result<RingBufReader> from_fds(const std::string& name, int ring_fd, int drops_fd = -1);

  RingBufReader(RingBufReader&& other) noexcept;
  RingBufReader& operator=(RingBufReader&& other) noexcept;
  RingBufReader(const RingBufReader&) = delete;
  RingBufReader& operator=(const RingBufReader&) = delete;
  ~RingBufReader() override;

  const std::string& name() const override { return name_; }
  int epoll_fd() const override;
  Result<bool> consume(BatchQueue& queue, ReaderId id) override;
  ReaderStats stats() const override;

  // True when the BPF side counts drops for this ring (NAME_drops was found).
  bool counts_drops() const { return drops_fd_.valid(); }

  // The libbpf callback context, defined in the .cpp file.
  struct State;

 private:
  RingBufReader() = default;
  void release();
  uint64_t read_drops() const;

  std::string name_;
  UniqueFd ring_fd_;
  UniqueFd drops_fd_;
  // libbpf's callback context; on the heap so that it stays put when the reader moves.
  std::unique_ptr<State> state_;
  ring_buffer* ring_ = nullptr;
};

}  // namespace ebpfrun::events

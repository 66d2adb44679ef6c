// Batches of event records, copied out of ring buffers and perf buffers.
//
// The consumer of events (the Lua layer) must never run inside a libbpf
// callback: an error raised there would unwind through C code that cannot be
// unwound, and a slow consumer would hold the kernel buffer's space. So the
// libbpf callbacks do nothing but copy records into a BatchQueue, and the
// consumer takes whole Batches afterwards, at its own pace.
//
// A Batch owns one contiguous byte buffer plus an index of (reader, cpu,
// offset, size) entries. Each record starts at an 8-byte aligned offset, so a
// record can be read in place through a pointer to its C struct.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <vector>

namespace ebpfrun::events {

// Identifies the reader an event came from; given out by EventLoop::add and
// never reused within one loop.
using ReaderId = uint32_t;

// How large one batch may grow. A batch holds at most max_events records, and
// stops taking records once it holds max_bytes or more; so one record larger
// than max_bytes still gets through, alone in its batch.
struct BatchLimits {
  size_t max_events = 1024;
  size_t max_bytes = size_t{1} << 20;
};

// Where one record sits in its batch. The layout is part of the interface: the
// Lua bindings read this index directly with FFI
// (struct ebpfrun_batch_entry in stdlib/ebpf/init.lua), so keep them in step.
struct BatchEntry {
  ReaderId reader;
  int32_t cpu;
  uint32_t offset;
  uint32_t size;
};
static_assert(sizeof(BatchEntry) == 16, "BatchEntry is read by LuaJIT FFI");

// One record, viewed inside its batch (valid as long as the batch lives).
struct Event {
  ReaderId reader = 0;
  int cpu = -1;  // the CPU whose perf buffer held it; -1 for ring buffers, which are shared
  std::span<const std::byte> data;
};

class Batch {
 public:
  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  // Payload bytes, without alignment padding.
  size_t bytes() const { return payload_bytes_; }
  Event operator[](size_t index) const;

  class Iterator {
   public:
    Iterator(const Batch* batch, size_t index) : batch_(batch), index_(index) {}
    Event operator*() const { return (*batch_)[index_]; }
    Iterator& operator++() {
      ++index_;
      return *this;
    }
    bool operator==(const Iterator& other) const { return index_ == other.index_; }

   private:
    const Batch* batch_;
    size_t index_;
  };
  Iterator begin() const { return Iterator(this, 0); }
  // The raw buffer and index, for consumers that read records in place
  // (size() entries; each entry's offset is relative to raw_data()).
  const std::byte* raw_data() const { return data_.data(); }
  const BatchEntry* raw_entries() const { return entries_.data(); }
  Iterator end() const { return Iterator(this, size()); }

 private:
  friend class BatchQueue;
  using Entry = BatchEntry;
  void append(ReaderId reader, int cpu, const void* data, size_t size);
  bool full(const BatchLimits& limits) const;

  std::vector<std::byte> data_;
  std::vector<Entry> entries_;
  size_t payload_bytes_ = 0;
};

// Batches filled by reader callbacks, in arrival order, waiting to be taken.
class BatchQueue {
 public:
  explicit BatchQueue(BatchLimits limits);

  // Copies one record into the batch being filled, starting a new batch when
  // that one is full. Returns true when the batch being filled is now full,
  // which tells a ring buffer reader to stop consuming for now.
  bool append(ReaderId reader, int cpu, const void* data, size_t size);
  // True when the oldest batch is full, so there is no point in reading more.
  bool front_full() const;
  // The oldest batch (full or not), if any record is waiting.
  std::optional<Batch> take();
  bool empty() const { return batches_.empty(); }
  // Gives a taken batch's buffers back for reuse, saving allocations.
  void recycle(Batch&& batch);
  const BatchLimits& limits() const { return limits_; }

 private:
  BatchLimits limits_;
  std::deque<Batch> batches_;
  std::vector<Batch> spare_;
};

}  // namespace ebpfrun::events

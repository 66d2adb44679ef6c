// What every event reader offers the EventLoop, and the counters it keeps.
//
// RingBufReader and PerfBufReader implement EventSource; the loop only knows
// this interface, so it treats both kinds of kernel buffer alike: wait on the
// reader's epoll fd, then ask it to copy records into the batch queue.
#pragma once

#include <cstdint>
#include <string>

#include "common/result.h"
#include "events/batch.h"

namespace ebpfrun::events {

// Counters of one reader. Events are never hidden: whatever the kernel could
// not deliver shows up in `lost` or `dropped`.
struct ReaderStats {
  // Records copied out of the kernel buffer into batches.
  uint64_t received = 0;
  // Perf buffers: samples the kernel could not store because the buffer was
  // full, as reported by the kernel's lost-records.
  uint64_t lost = 0;
  // Ring buffers: reservations that failed because the ring was full, counted
  // by the BPF side in NAME_drops (see bpf/ebpfrun_events.h); 0 without one.
  uint64_t dropped = 0;
  // Payload bytes of the received records.
  uint64_t bytes = 0;
};

class EventSource {
 public:
  virtual ~EventSource() = default;

  // The map's name, for messages and metrics.
  virtual const std::string& name() const = 0;
  // An fd that polls readable when records may be waiting.
  virtual int epoll_fd() const = 0;
  // Copies waiting records into `queue`, tagged with `id`. Returns true when it
  // read everything there was, false when it stopped early because the queue
  // has a full batch (call again once the consumer has taken batches).
  virtual Result<bool> consume(BatchQueue& queue, ReaderId id) = 0;
  // The counters as of now (a ring buffer's drops are read from the kernel).
  virtual ReaderStats stats() const = 0;
};

}  // namespace ebpfrun::events

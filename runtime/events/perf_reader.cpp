#include "events/perf_reader.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include <fmt/format.h>

#include "common/log.h"
#include "events/internal/map_lookup.h"
#include "loader/object.h"

namespace ebpfrun::events {

// What the libbpf callbacks see. `queue` is set only while consume() runs.
struct PerfBufReader::State {
  BatchQueue* queue = nullptr;
  ReaderId id = 0;
  uint64_t received = 0;
  uint64_t lost = 0;
  uint64_t bytes = 0;
};

namespace {

void on_sample(void* ctx, int cpu, void* data, __u32 size) {
  auto* state = static_cast<PerfBufReader::State*>(ctx);
  state->received++;
  state->bytes += size;
  state->queue->append(state->id, cpu, data, size);
}

void on_lost(void* ctx, int cpu, __u64 count) {
  auto* state = static_cast<PerfBufReader::State*>(ctx);
  state->lost += count;
  log::debug("perf buffer lost {} samples on CPU {}", count, cpu);
}

bool power_of_two(size_t n) { return n != 0 && (n & (n - 1)) == 0; }

}  // namespace

Result<PerfBufReader> PerfBufReader::open(const loader::Object& object, const std::string& map_name,
                                          size_t pages_per_cpu) {
  auto fd = find_map_fd(object, map_name, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
  if (!fd) return std::move(fd).take_error();
  return from_fd(map_name, *fd, pages_per_cpu);
}

Result<PerfBufReader> PerfBufReader::from_fd(const std::string& name, int map_fd, size_t pages_per_cpu) {
  if (!power_of_two(pages_per_cpu))
    return make_error(ErrorKind::invalid_argument,
                      fmt::format("perf buffer {}: {} pages per CPU is not a power of two; use 1, 2, 4, ... pages.",
                                  name, pages_per_cpu));
  auto info = map_info(map_fd, name);
  if (!info) return std::move(info).take_error();
  if (info->type != BPF_MAP_TYPE_PERF_EVENT_ARRAY)
    return make_error(ErrorKind::invalid_argument,
                      fmt::format("map {} is a {} map, not a perf_event_array map; read it with the reader for its "
                                  "type.",
                                  name, map_type_name(info->type)));
  PerfBufReader reader;
  reader.name_ = name;
  auto copy = duplicate_fd(map_fd, name);
  if (!copy) return std::move(copy).take_error();
  reader.map_fd_ = std::move(*copy);
  reader.state_ = std::make_unique<State>();
  reader.buffer_ =
      perf_buffer__new(reader.map_fd_.get(), pages_per_cpu, on_sample, on_lost, reader.state_.get(), nullptr);
  if (!reader.buffer_) {
    int err = errno;
    return make_errno_error(
        err, fmt::format("cannot open perf buffer {} ({} pages per CPU): {}; perf buffers need CAP_PERFMON "
                         "(or root) and locked memory (ulimit -l).",
                         name, pages_per_cpu, std::strerror(err)));
  }
  log::debug("reading perf buffer {} ({} CPUs, {} pages each)", name, reader.buffer_count(), pages_per_cpu);
  return reader;
}

PerfBufReader::PerfBufReader(PerfBufReader&& other) noexcept
    : name_(std::move(other.name_)),
      map_fd_(std::move(other.map_fd_)),
      state_(std::move(other.state_)),
      buffer_(std::exchange(other.buffer_, nullptr)) {}

PerfBufReader& PerfBufReader::operator=(PerfBufReader&& other) noexcept {
  if (this != &other) {
    release();
    name_ = std::move(other.name_);
    map_fd_ = std::move(other.map_fd_);
    state_ = std::move(other.state_);
    buffer_ = std::exchange(other.buffer_, nullptr);
  }
  return *this;
}

PerfBufReader::~PerfBufReader() { release(); }

void PerfBufReader::release() {
  if (!buffer_) return;
  // libbpf clears the map's CPU slots through map_fd_, so free before closing it.
  perf_buffer__free(buffer_);
  buffer_ = nullptr;
  log::debug("stopped reading perf buffer {} ({} events received, {} lost)", name_, state_ ? state_->received : 0,
             state_ ? state_->lost : 0);
  map_fd_.reset();
}

int PerfBufReader::epoll_fd() const { return buffer_ ? perf_buffer__epoll_fd(buffer_) : -1; }

size_t PerfBufReader::buffer_count() const { return buffer_ ? perf_buffer__buffer_cnt(buffer_) : 0; }

Result<bool> PerfBufReader::consume(BatchQueue& queue, ReaderId id) {
  if (!buffer_)
    return make_error(ErrorKind::invalid_argument,
                      fmt::format("perf buffer reader {} was moved from or closed.", name_));
  state_->queue = &queue;
  state_->id = id;
  const size_t count = perf_buffer__buffer_cnt(buffer_);
  int failed = 0;
  for (size_t i = 0; i < count && failed == 0; ++i) failed = perf_buffer__consume_buffer(buffer_, i);
  state_->queue = nullptr;
  if (failed < 0)
    return make_errno_error(failed, fmt::format("reading perf buffer {} failed: {}.", name_, std::strerror(-failed)));
  return true;
}

ReaderStats PerfBufReader::stats() const {
  ReaderStats out;
  if (state_) {
    out.received = state_->received;
    out.lost = state_->lost;
    out.bytes = state_->bytes;
  }
  return out;
}

}  // namespace ebpfrun::events

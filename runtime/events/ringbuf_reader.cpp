#include "events/ringbuf_reader.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "common/log.h"
#include "events/internal/map_lookup.h"
#include "loader/object.h"

namespace ebpfrun::events {

// What the libbpf sample callback sees. `queue` is set only while consume()
// runs, so the callback can never write into a queue that went away.
struct RingBufReader::State {
  BatchQueue* queue = nullptr;
  ReaderId id = 0;
  bool stopped_full = false;
  uint64_t received = 0;
  uint64_t bytes = 0;
};

namespace {

// Returned by the callback to make libbpf stop; libbpf has already advanced
// past the record the callback was given, so that record is kept, not lost.
constexpr int kStopFull = -ECANCELED;

int on_sample(void* ctx, void* data, size_t size) {
  auto* state = static_cast<RingBufReader::State*>(ctx);
  state->received++;
  state->bytes += size;
  if (state->queue->append(state->id, -1, data, size)) {
    state->stopped_full = true;
    return kStopFull;
  }
  return 0;
}

Status check_drop_counter(const std::string& name, int fd) {
  auto info = map_info(fd, name);
  if (!info) return std::move(info).take_error();
  if (info->type != BPF_MAP_TYPE_PERCPU_ARRAY || info->key_size != 4 || info->value_size != 8 || info->max_entries < 1)
    return make_error(
        ErrorKind::invalid_argument,
        fmt::format("map {} is not a drop counter: it must be a percpu_array of one __u64 (it is a {} map with {}-byte "
                    "values); declare the ring buffer with EBPFRUN_RINGBUF_WITH_DROPS from ebpfrun_events.h, or rename "
                    "the map.",
                    name, map_type_name(info->type), info->value_size));
  return ok_status();
}

}  // namespace

Result<RingBufReader> RingBufReader::open(const loader::Object& object, const std::string& map_name) {
  auto ring_fd = find_map_fd(object, map_name, BPF_MAP_TYPE_RINGBUF);
  if (!ring_fd) return std::move(ring_fd).take_error();
  auto drops_fd = find_optional_map_fd(object, map_name + "_drops");
  return from_fds(map_name, *ring_fd, drops_fd.value_or(-1));
}

Result<RingBufReader> RingBufReader::from_fds(const std::string& name, int ring_fd, int drops_fd) {
  auto info = map_info(ring_fd, name);
  if (!info) return std::move(info).take_error();
  if (info->type != BPF_MAP_TYPE_RINGBUF)
    return make_error(ErrorKind::invalid_argument,
                      fmt::format("map {} is a {} map, not a ringbuf map; read it with the reader for its type.", name,
                                  map_type_name(info->type)));
  RingBufReader reader;
  reader.name_ = name;
  auto ring_copy = duplicate_fd(ring_fd, name);
  if (!ring_copy) return std::move(ring_copy).take_error();
  reader.ring_fd_ = std::move(*ring_copy);
  if (drops_fd >= 0) {
    const std::string drops_name = name + "_drops";
    if (auto checked = check_drop_counter(drops_name, drops_fd); !checked) return std::move(checked).take_error();
    auto drops_copy = duplicate_fd(drops_fd, drops_name);
    if (!drops_copy) return std::move(drops_copy).take_error();
    reader.drops_fd_ = std::move(*drops_copy);
  }
  reader.state_ = std::make_unique<State>();
  reader.ring_ = ring_buffer__new(reader.ring_fd_.get(), on_sample, reader.state_.get(), nullptr);
  if (!reader.ring_) {
    int err = errno;
    return make_errno_error(
        err, fmt::format("cannot map ring buffer {}: {}; reading ring buffers needs CAP_BPF (or root).", name,
                         std::strerror(err)));
  }
  log::debug("reading ring buffer {} ({} bytes){}", name, info->max_entries,
             reader.counts_drops() ? ", drops counted in " + name + "_drops" : "");
  return reader;
}

RingBufReader::RingBufReader(RingBufReader&& other) noexcept
    : name_(std::move(other.name_)),
      ring_fd_(std::move(other.ring_fd_)),
      drops_fd_(std::move(other.drops_fd_)),
      state_(std::move(other.state_)),
      ring_(std::exchange(other.ring_, nullptr)) {}

RingBufReader& RingBufReader::operator=(RingBufReader&& other) noexcept {
  if (this != &other) {
    release();
    name_ = std::move(other.name_);
    ring_fd_ = std::move(other.ring_fd_);
    drops_fd_ = std::move(other.drops_fd_);
    state_ = std::move(other.state_);
    ring_ = std::exchange(other.ring_, nullptr);
  }
  return *this;
}

RingBufReader::~RingBufReader() { release(); }

void RingBufReader::release() {
  if (!ring_) return;
  // Unmap first: the mapping, not the fd, is what libbpf reads.
  ring_buffer__free(ring_);
  ring_ = nullptr;
  log::debug("stopped reading ring buffer {} ({} events received)", name_, state_ ? state_->received : 0);
  ring_fd_.reset();
  drops_fd_.reset();
}

int RingBufReader::epoll_fd() const { return ring_ ? ring_buffer__epoll_fd(ring_) : -1; }

Result<bool> RingBufReader::consume(BatchQueue& queue, ReaderId id) {
  if (!ring_)
    return make_error(ErrorKind::invalid_argument,
                      fmt::format("ring buffer reader {} was moved from or closed.", name_));
  state_->queue = &queue;
  state_->id = id;
  state_->stopped_full = false;
  int n = ring_buffer__consume(ring_);
  state_->queue = nullptr;
  if (state_->stopped_full) return false;
  if (n < 0) return make_errno_error(n, fmt::format("reading ring buffer {} failed: {}.", name_, std::strerror(-n)));
  return true;
}

uint64_t RingBufReader::read_drops() const {
  if (!drops_fd_.valid()) return 0;
  int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) return 0;
  // Per-CPU values come back as one 8-byte slot per possible CPU.
  std::vector<uint64_t> values(static_cast<size_t>(cpus));
  uint32_t key = 0;
  if (bpf_map_lookup_elem(drops_fd_.get(), &key, values.data()) != 0) {
    int err = errno;
    log::warn("cannot read the drop counter of ring buffer {}: {}", name_, std::strerror(err));
    return 0;
  }
  uint64_t total = 0;
  for (uint64_t v : values) total += v;
  return total;
}

ReaderStats RingBufReader::stats() const {
  ReaderStats out;
  if (state_) {
    out.received = state_->received;
    out.bytes = state_->bytes;
  }
  out.dropped = read_drops();
  return out;
}

}  // namespace ebpfrun::events

#include "events/batch.h"

#include <algorithm>
#include <cstring>

namespace ebpfrun::events {
namespace {

constexpr size_t kAlign = 8;
constexpr size_t kMaxSpare = 4;

size_t align_up(size_t n) { return (n + kAlign - 1) & ~(kAlign - 1); }

}  // namespace

Event Batch::operator[](size_t index) const {
  const Entry& e = entries_[index];
  return Event{e.reader, e.cpu, std::span<const std::byte>(data_.data() + e.offset, e.size)};
}

void Batch::append(ReaderId reader, int cpu, const void* data, size_t size) {
  const size_t offset = align_up(data_.size());
  data_.resize(offset + size);
  if (size > 0) std::memcpy(data_.data() + offset, data, size);
  entries_.push_back(Entry{reader, cpu, static_cast<uint32_t>(offset), static_cast<uint32_t>(size)});
  payload_bytes_ += size;
}

bool Batch::full(const BatchLimits& limits) const {
  return entries_.size() >= limits.max_events || payload_bytes_ >= limits.max_bytes;
}

BatchQueue::BatchQueue(BatchLimits limits) : limits_(limits) {
  // Offsets are 32-bit, and a zero limit would make every batch "full" forever.
  limits_.max_events = std::max<size_t>(1, limits_.max_events);
  limits_.max_bytes = std::clamp<size_t>(limits_.max_bytes, 1, size_t{1} << 30);
}

bool BatchQueue::append(ReaderId reader, int cpu, const void* data, size_t size) {
  if (batches_.empty() || batches_.back().full(limits_)) {
    if (spare_.empty()) {
      batches_.emplace_back();
    } else {
      batches_.push_back(std::move(spare_.back()));
      spare_.pop_back();
    }
  }
  batches_.back().append(reader, cpu, data, size);
  return batches_.back().full(limits_);
}

bool BatchQueue::front_full() const { return !batches_.empty() && batches_.front().full(limits_); }

std::optional<Batch> BatchQueue::take() {
  if (batches_.empty()) return std::nullopt;
  Batch batch = std::move(batches_.front());
  batches_.pop_front();
  return batch;
}

void BatchQueue::recycle(Batch&& batch) {
  if (spare_.size() >= kMaxSpare) return;
  batch.data_.clear();
  batch.entries_.clear();
  batch.payload_bytes_ = 0;
  spare_.push_back(std::move(batch));
}

}  // namespace ebpfrun::events

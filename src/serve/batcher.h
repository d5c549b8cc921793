// Dynamic batching: requests queue, and each free executor takes the next
// batch when one is due.
//
// A batch is due when the queue holds `max_batch_size` samples (or the
// largest preferred size), when its oldest request has waited
// `max_queue_delay`, or when no request is arriving: waiting only pays if
// another request is on its way, so the delay is spent only while some
// request is being read (a connection that has sent its bytes but whose body
// is not yet parsed). Under load executors are busy and requests pile up, so
// batches fill on their own; a lone client is never made to wait the delay.
// A batch takes requests in arrival order up to `max_batch_size` samples (a
// request larger than that runs alone), cut at the largest preferred size
// that fits when the queue holds less than a full batch.
//
// The queue is bounded (`max_queue` requests): Submit refuses beyond it, and
// the replica answers 503 with Retry-After rather than letting latency grow
// without limit.
//
// Thread safety: all methods may be called from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <vector>

namespace drover::serve {

struct BatchingOptions {
  int max_batch_size = 1;
  std::chrono::microseconds max_queue_delay{0};
  std::vector<int> preferred_batch_sizes;  //!< ascending, each <= max_batch_size
  int max_queue = 1024;                    //!< requests queued at most
};

//! Whether a batch is due (pure; see the file comment).
bool BatchDue(const BatchingOptions& o, int64_t queued_samples, int arriving, std::chrono::microseconds oldest_wait);
//! How many of the queued requests (with these sample counts, in order) the
//! next batch takes: at least one (pure).
size_t CutBatch(const BatchingOptions& o, const std::vector<int64_t>& samples);

template <typename T>
class Batcher {
 public:
  using Clock = std::chrono::steady_clock;
  explicit Batcher(BatchingOptions options) : o_(std::move(options)) {}

  //! A request is being read: a batch may wait for it (within the delay).
  void Arriving() {
    std::lock_guard<std::mutex> lock(mu_);
    ++arriving_;
  }
  //! A request that was Arriving will not be submitted (it was refused).
  void Abandon() {
    std::lock_guard<std::mutex> lock(mu_);
    --arriving_;
    cv_.notify_one();
  }
  //! Queues `item` (ends its Arriving); false when the queue is full or the
  //! batcher is closed (the item is left with the caller).
  bool Submit(T& item, int64_t samples) {
    std::lock_guard<std::mutex> lock(mu_);
    --arriving_;
    if (closed_ || static_cast<int>(queue_.size()) >= o_.max_queue) {
      cv_.notify_one();
      return false;
    }
    queue_.push_back(Entry{std::move(item), samples, Clock::now()});
    queued_samples_ += samples;
    cv_.notify_one();
    return true;
  }
  //! Blocks until a batch is due and returns it; empty once closed and drained.
  std::vector<T> Next() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      if (!queue_.empty()) {
        const auto waited = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - queue_.front().at);
        if (closed_ || BatchDue(o_, queued_samples_, arriving_, waited)) break;
        cv_.wait_until(lock, queue_.front().at + o_.max_queue_delay);
        continue;
      }
      if (closed_) return {};
      cv_.wait(lock);
    }
    std::vector<int64_t> samples;
    samples.reserve(queue_.size());
    for (const Entry& e : queue_) samples.push_back(e.samples);
    const size_t n = CutBatch(o_, samples);
    std::vector<T> batch;
    batch.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      queued_samples_ -= queue_.front().samples;
      batch.push_back(std::move(queue_.front().item));
      queue_.pop_front();
    }
    if (!queue_.empty()) cv_.notify_one();  // another executor may take the rest
    return batch;
  }
  //! Refuses new requests; Next drains what is queued, then returns empty.
  void Close() {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
    cv_.notify_all();
  }
  size_t queued() const {
    std::lock_guard<std::mutex> lock(mu_);
    return queue_.size();
  }

 private:
  struct Entry {
    T item;
    int64_t samples;
    Clock::time_point at;
  };
  const BatchingOptions o_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Entry> queue_;
  int64_t queued_samples_ = 0;
  int arriving_ = 0;
  bool closed_ = false;
};

}  // namespace drover::serve

#include "serve/batcher.h"

#include <algorithm>

namespace drover::serve {

namespace {
// The size a batch aims at: the largest preferred size, else the maximum.
int64_t FullSize(const BatchingOptions& o) {
  return o.preferred_batch_sizes.empty() ? o.max_batch_size : o.preferred_batch_sizes.back();
}
}  // namespace

bool BatchDue(const BatchingOptions& o, int64_t queued_samples, int arriving, std::chrono::microseconds oldest_wait) {
  if (queued_samples <= 0) return false;
  return queued_samples >= FullSize(o) || arriving <= 0 || oldest_wait >= o.max_queue_delay;
}

size_t CutBatch(const BatchingOptions& o, const std::vector<int64_t>& samples) {
  if (samples.empty()) return 0;
  int64_t total = 0;
  size_t n = 0;
  while (n < samples.size() && total + samples[n] <= o.max_batch_size) total += samples[n++];
  if (n == 0) return 1;  // one request larger than a batch runs alone
  if (n == samples.size() && total < o.max_batch_size) {
    // Less than a full batch queued: cut at the largest preferred size it reaches exactly.
    for (auto it = o.preferred_batch_sizes.rbegin(); it != o.preferred_batch_sizes.rend(); ++it) {
      int64_t sum = 0;
      size_t k = 0;
      while (k < n && sum + samples[k] <= *it) sum += samples[k++];
      if (sum == *it) return k;
    }
  }
  return n;
}

}  // namespace drover::serve

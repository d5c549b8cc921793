// A replica's (or the router's) counters and histograms, written in the
// Prometheus text format at GET /metrics:
//
//   drover_serve_requests_total{model,code}   answers by HTTP status
//   drover_serve_queue_seconds                 time from arrival to a batch
//   drover_serve_compute_seconds               a batch's forward pass
//   drover_serve_batch_size                    samples per batch
//   drover_serve_in_flight                     requests being served now
//
// Thread safety: every method may be called from any thread (atomics).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

namespace drover::serve {

//! A histogram with fixed upper bounds (Prometheus `le`), lock-free.
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void Observe(double v);
  //! Its lines in the text format, for metric `name` with `labels` ("" or `model="m"`).
  std::string Text(const std::string& name, const std::string& help, const std::string& labels) const;
  uint64_t count() const { return count_.load(); }

 private:
  std::vector<double> bounds_;
  std::vector<std::atomic<uint64_t>> buckets_;  // one per bound, plus +Inf
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_micro_{0};  // the sum, in millionths
};

struct ServeMetrics {
  explicit ServeMetrics(std::string model);
  //! An answer with HTTP `status`.
  void Answered(int status);
  //! The whole text for GET /metrics.
  std::string Text() const;

  const std::string model;
  std::atomic<int64_t> in_flight{0};
  Histogram queue_seconds;
  Histogram compute_seconds;
  Histogram batch_size;

 private:
  // Answers by status class and the common codes: 200, 400, 404, 413, 503, other.
  static constexpr std::array<int, 6> kCodes{200, 400, 404, 413, 503, 0};
  std::array<std::atomic<uint64_t>, kCodes.size()> answers_{};
};

}  // namespace drover::serve

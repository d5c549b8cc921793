// Backoff: exponential delays between retries, with jitter.
//
// Next() returns initial, 2*initial, 4*initial, ... capped at `max`, each
// scaled by a random factor in [1 - jitter, 1 + jitter] so that agents cut off
// by the same server restart do not all retry at once. Reset() after a
// success. Randomness comes from a seeded generator, so tests are exact with
// jitter 0 or a fixed seed. Thread safety: none.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <random>

namespace drover::agent {

class Backoff {
 public:
  Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max, double jitter = 0.2,
          uint64_t seed = std::random_device{}())
      : initial_(initial), max_(max), jitter_(jitter), rng_(seed) {}

  std::chrono::milliseconds Next() {
    double base = static_cast<double>(initial_.count());
    for (int i = 0; i < failures_ && base < static_cast<double>(max_.count()); ++i) base *= 2;
    base = std::min(base, static_cast<double>(max_.count()));
    ++failures_;
    double factor = 1.0;
    if (jitter_ > 0)
      factor = std::uniform_real_distribution<double>(1.0 - jitter_, 1.0 + jitter_)(rng_);
    return std::chrono::milliseconds(static_cast<int64_t>(base * factor));
  }
  void Reset() { failures_ = 0; }
  void set_max(std::chrono::milliseconds max) { max_ = max; }
  //! Failures since the last Reset().
  int failures() const { return failures_; }

 private:
  std::chrono::milliseconds initial_;
  std::chrono::milliseconds max_;
  double jitter_;
  std::mt19937_64 rng_;
  int failures_ = 0;
};

}  // namespace drover::agent

// The data order of elastic training: which samples each worker trains on.
//
// Every epoch visits the dataset in one permutation, EpochPermutation(seed,
// epoch, n): Fisher–Yates driven by a self-contained splitmix64 generator, so
// every worker on every platform and standard library computes the same order.
// A global batch is the next `global_batch` samples of that order from the
// cursor (the last batch of an epoch may be short); it is cut into world_size
// contiguous slices whose sizes differ by at most one, lower ranks taking the
// larger ones. The cursor counts samples, not steps, so the world size (and the
// global batch size) may change between any two steps and each sample of an
// epoch is still used exactly once.
//
// Protocol: each rank calls Next() for its slice; once the step commits, every
// rank calls Advance() with the same global_batch. A newcomer restores from the
// most senior worker's state() (EncodeState/DecodeState for the wire).
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "common/status.h"

namespace drover::train {

//! A permutation of [0, n), a pure function of its arguments. n must be >= 0 (CHECKed).
std::vector<int64_t> EpochPermutation(uint64_t seed, int64_t epoch, int64_t n);

//! [begin, begin + size) of a batch of `batch_size` belonging to `rank`. Requires
//! batch_size >= 0 and 0 <= rank < world_size (CHECKed). Empty when batch_size < world_size
//! and rank >= batch_size.
struct Slice {
  int64_t begin = 0;
  int64_t size = 0;
};
Slice RankSlice(int64_t batch_size, int world_size, int rank);

//! All a sampler is: plain data, small enough to broadcast.
struct SamplerState {
  uint64_t seed = 0;
  int64_t dataset_size = 0;
  int64_t epoch = 0;
  //! Samples of this epoch already consumed; always < dataset_size.
  int64_t cursor = 0;
  bool operator==(const SamplerState&) const = default;
};

inline constexpr size_t kEncodedSamplerStateBytes = 32;
//! Four little-endian 64-bit words: seed, dataset_size, epoch, cursor.
std::array<uint8_t, kEncodedSamplerStateBytes> EncodeState(const SamplerState& state);
//! InvalidArgument on a wrong length; the values are checked by ElasticSampler::Restore.
[[nodiscard]] Result<SamplerState> DecodeState(std::span<const uint8_t> bytes);

// Not thread-safe; a plain value (copyable) holding the current epoch's permutation.
class ElasticSampler {
 public:
  //! Epoch 0, cursor 0. InvalidArgument when dataset_size <= 0 (an epoch would never end).
  [[nodiscard]] static Result<ElasticSampler> Create(int64_t dataset_size, uint64_t seed);
  //! Continues from `state`. InvalidArgument when its dataset_size differs from
  //! `dataset_size` (the workers disagree on the data), or its epoch or cursor is out of range.
  [[nodiscard]] static Result<ElasticSampler> Restore(const SamplerState& state,
                                                      int64_t dataset_size);

  //! This rank's sample indices in the next global batch; does not move the cursor.
  //! Never empty for the batch as a whole; one rank's slice is empty when
  //! global_batch < world_size. InvalidArgument when global_batch <= 0,
  //! world_size <= 0 or rank is outside [0, world_size).
  [[nodiscard]] Result<std::vector<int64_t>> Next(int64_t global_batch, int world_size,
                                                  int rank) const;
  //! Samples in the next global batch: min(global_batch, dataset_size - cursor).
  int64_t NextBatchSize(int64_t global_batch) const;
  //! Consumes the next global batch, rolling into the next epoch at its end.
  //! InvalidArgument when global_batch <= 0, leaving the state unchanged.
  [[nodiscard]] Status Advance(int64_t global_batch);

  const SamplerState& state() const { return state_; }
  int64_t epoch() const { return state_.epoch; }
  int64_t cursor() const { return state_.cursor; }

 private:
  explicit ElasticSampler(const SamplerState& state);

  SamplerState state_;
  //! EpochPermutation(state_.seed, state_.epoch, state_.dataset_size).
  std::vector<int64_t> order_;
};

}  // namespace drover::train

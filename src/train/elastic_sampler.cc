#include "train/elastic_sampler.h"

#include <algorithm>
#include <string>
#include <utility>

#include "common/check.h"

namespace drover::train {
namespace {

// splitmix64 (Steele, Lea, Flood 2014): fixed arithmetic on uint64_t, so its
// output is the same everywhere, unlike std:: distributions.
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t state) : state_(state) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  //! Uniform in [0, bound), bound > 0, without modulo bias (rejection sampling).
  uint64_t Below(uint64_t bound) {
    uint64_t threshold = (0 - bound) % bound;  // 2^64 mod bound
    for (;;) {
      uint64_t r = Next();
      if (r >= threshold) return r % bound;
    }
  }

 private:
  uint64_t state_;
};

uint64_t Mix(uint64_t x) { return SplitMix64(x).Next(); }

Status CheckBatch(int64_t global_batch) {
  if (global_batch <= 0) {
    return InvalidArgument("global_batch is " + std::to_string(global_batch) +
                           ", must be positive");
  }
  return Status::Ok();
}

}  // namespace

std::vector<int64_t> EpochPermutation(uint64_t seed, int64_t epoch, int64_t n) {
  DROVER_CHECK(n >= 0);  // a dataset size; callers validate it
  std::vector<int64_t> order(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) order[i] = i;
  // Hashing (seed, epoch) together keeps nearby seeds and epochs unrelated.
  SplitMix64 rng(Mix(seed) ^ Mix(static_cast<uint64_t>(epoch) + 0x632be59bd9b4e019ULL));
  for (int64_t i = n - 1; i > 0; --i) {
    int64_t j = static_cast<int64_t>(rng.Below(static_cast<uint64_t>(i) + 1));
    std::swap(order[i], order[j]);
  }
  return order;
}

Slice RankSlice(int64_t batch_size, int world_size, int rank) {
  DROVER_CHECK(batch_size >= 0 && world_size > 0 && rank >= 0 && rank < world_size);
  int64_t base = batch_size / world_size;
  int64_t extra = batch_size % world_size;
  return {rank * base + std::min<int64_t>(rank, extra), base + (rank < extra ? 1 : 0)};
}

std::array<uint8_t, kEncodedSamplerStateBytes> EncodeState(const SamplerState& state) {
  std::array<uint8_t, kEncodedSamplerStateBytes> out{};
  const uint64_t words[4] = {state.seed, static_cast<uint64_t>(state.dataset_size),
                             static_cast<uint64_t>(state.epoch),
                             static_cast<uint64_t>(state.cursor)};
  for (int w = 0; w < 4; ++w) {
    for (int b = 0; b < 8; ++b) out[w * 8 + b] = static_cast<uint8_t>(words[w] >> (8 * b));
  }
  return out;
}

Result<SamplerState> DecodeState(std::span<const uint8_t> bytes) {
  if (bytes.size() != kEncodedSamplerStateBytes) {
    return InvalidArgument("sampler state is " + std::to_string(bytes.size()) + " bytes, want " +
                           std::to_string(kEncodedSamplerStateBytes));
  }
  uint64_t words[4] = {};
  for (int w = 0; w < 4; ++w) {
    for (int b = 0; b < 8; ++b) words[w] |= uint64_t{bytes[w * 8 + b]} << (8 * b);
  }
  return SamplerState{words[0], static_cast<int64_t>(words[1]), static_cast<int64_t>(words[2]),
                      static_cast<int64_t>(words[3])};
}

ElasticSampler::ElasticSampler(const SamplerState& state)
    : state_(state), order_(EpochPermutation(state.seed, state.epoch, state.dataset_size)) {}

Result<ElasticSampler> ElasticSampler::Create(int64_t dataset_size, uint64_t seed) {
  if (dataset_size <= 0) {
    return InvalidArgument("dataset_size is " + std::to_string(dataset_size) +
                           ", must be positive: an empty dataset has no batches");
  }
  return ElasticSampler(SamplerState{seed, dataset_size, 0, 0});
}

Result<ElasticSampler> ElasticSampler::Restore(const SamplerState& state, int64_t dataset_size) {
  if (dataset_size <= 0) {
    return InvalidArgument("dataset_size is " + std::to_string(dataset_size) +
                           ", must be positive: an empty dataset has no batches");
  }
  if (state.dataset_size != dataset_size) {
    return InvalidArgument("sampler state.dataset_size is " + std::to_string(state.dataset_size) +
                           " but the local dataset has " + std::to_string(dataset_size) +
                           " samples");
  }
  if (state.epoch < 0) {
    return InvalidArgument("sampler state.epoch is " + std::to_string(state.epoch) +
                           ", must be >= 0");
  }
  if (state.cursor < 0 || state.cursor >= dataset_size) {
    return InvalidArgument("sampler state.cursor is " + std::to_string(state.cursor) +
                           ", outside [0, " + std::to_string(dataset_size) + ")");
  }
  return ElasticSampler(state);
}

int64_t ElasticSampler::NextBatchSize(int64_t global_batch) const {
  return std::clamp<int64_t>(global_batch, 0, state_.dataset_size - state_.cursor);
}

Result<std::vector<int64_t>> ElasticSampler::Next(int64_t global_batch, int world_size,
                                                  int rank) const {
  DROVER_RETURN_IF_ERROR(CheckBatch(global_batch));
  if (world_size <= 0) {
    return InvalidArgument("world_size is " + std::to_string(world_size) + ", must be positive");
  }
  if (rank < 0 || rank >= world_size) {
    return InvalidArgument("rank is " + std::to_string(rank) + ", outside [0, " +
                           std::to_string(world_size) + ")");
  }
  Slice s = RankSlice(NextBatchSize(global_batch), world_size, rank);
  auto first = order_.begin() + state_.cursor + s.begin;
  return std::vector<int64_t>(first, first + s.size);
}

Status ElasticSampler::Advance(int64_t global_batch) {
  DROVER_RETURN_IF_ERROR(CheckBatch(global_batch));
  state_.cursor += NextBatchSize(global_batch);
  if (state_.cursor == state_.dataset_size) {
    state_.cursor = 0;
    ++state_.epoch;
    order_ = EpochPermutation(state_.seed, state_.epoch, state_.dataset_size);
  }
  return Status::Ok();
}

}  // namespace drover::train

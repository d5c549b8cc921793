#include "hpo/sampler.h"

#include <algorithm>
#include <numeric>
#include <set>

#include "hpo/tpe.h"

namespace drover::hpo {
namespace {

class RandomSampler : public Sampler {
 public:
  explicit RandomSampler(SearchSpace space) : space_(std::move(space)), discrete_(Discrete(space_)) {}
  Result<Config> Suggest(const History& history, Rng& rng) override {
    return discrete_ ? SampleUntried(space_, Tried(history), rng) : space_.Sample(rng);
  }

 private:
  SearchSpace space_;
  bool discrete_;
};

constexpr int64_t kMaxGrid = 10'000'000;

class GridSampler : public Sampler {
 public:
  GridSampler(SearchSpace space, int64_t size, uint64_t seed) : space_(std::move(space)), order_(size) {
    std::iota(order_.begin(), order_.end(), int64_t{0});
    Rng rng(seed);
    std::shuffle(order_.begin(), order_.end(), rng);
  }
  Result<Config> Suggest(const History& history, Rng&) override {
    if (history.suggested >= static_cast<int64_t>(order_.size())) {
      return Status(StatusCode::kResourceExhausted, "every one of the grid's " + std::to_string(order_.size()) + " points has been tried");
    }
    return space_.GridPoint(order_[history.suggested]);
  }

 private:
  SearchSpace space_;
  std::vector<int64_t> order_;  //!< the grid's points, shuffled by the seed
};

}  // namespace

std::set<Config> Tried(const History& history) {
  std::set<Config> tried;
  for (const Observation& o : history.done) tried.insert(o.config);
  tried.insert(history.pending.begin(), history.pending.end());
  return tried;
}

Config SampleUntried(const SearchSpace& space, const std::set<Config>& tried, Rng& rng) {
  Config c = space.Sample(rng);
  for (int redraws = 0; redraws < 100 && tried.count(c); ++redraws) c = space.Sample(rng);
  return c;
}

bool Discrete(const SearchSpace& space) {
  return std::all_of(space.params().begin(), space.params().end(), [](const Param& p) { return p.Cardinality() > 0; });
}

Result<std::unique_ptr<Sampler>> MakeSampler(const std::string& name, const SearchSpace& space,
                                             const SamplerOptions& options) {
  if (name == "random") return std::unique_ptr<Sampler>(new RandomSampler(space));
  if (name == "tpe") return std::unique_ptr<Sampler>(new TpeSampler(space, options));
  if (name == "grid") {
    Result<int64_t> size = space.GridSize();
    if (!size.ok()) return size.status();
    if (*size > kMaxGrid) {
      return InvalidArgument("the grid has " + std::to_string(*size) + " points, more than " +
                             std::to_string(kMaxGrid) + "; use random or tpe");
    }
    return std::unique_ptr<Sampler>(new GridSampler(space, *size, options.seed));
  }
  return InvalidArgument("algorithm: unknown sampler \"" + name + "\"; expected random, grid or tpe");
}

}  // namespace drover::hpo

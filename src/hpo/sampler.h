// Samplers: which configuration to try next, given the trials so far.
//
//   random  uniform draws (log-uniform for log ranges); in a discrete space a
//           point already tried or running is drawn again (up to 100 times).
//   grid    every point of the grid once, in an order shuffled by the seed;
//           kResourceExhausted once all have been suggested.
//   tpe     the Tree-structured Parzen Estimator (tpe.h).
//
// A sampler is pure: what it knows comes in a History, randomness in an Rng,
// so an experiment's sampler is rebuilt after a restart from its stored
// trials. Thread safety: none; one caller at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/status.h"
#include "hpo/search_space.h"

namespace drover::hpo {

//! A trial with a value: its objective, to minimise (a maximised metric is
//! negated), at the resource it reached (epochs, say; 1 when there is none).
struct Observation {
  Config config;
  double loss = 0;
  double resource = 1;
};

struct History {
  std::vector<Observation> done;  //!< trials ended or stopped, with a value
  std::vector<Config> pending;    //!< trials running, no value yet
  int64_t suggested = 0;          //!< configurations suggested so far (all trials)
};

class Sampler {
 public:
  virtual ~Sampler() = default;
  //! The next configuration to try. kResourceExhausted when there is none left (a
  //! grid that has been walked).
  virtual Result<Config> Suggest(const History& history, Rng& rng) = 0;
};

struct SamplerOptions {
  uint64_t seed = 0;     //!< grid: the order of the points
  int startup = 10;      //!< tpe: random trials before the model is used
  int candidates = 24;   //!< tpe: draws from the good density per suggestion
};

//! "random", "grid" or "tpe" over `space`. kInvalidArgument for another name,
//! and for a grid over a continuous range or of more than 10^7 points.
Result<std::unique_ptr<Sampler>> MakeSampler(const std::string& name, const SearchSpace& space,
                                             const SamplerOptions& options = {});

//! Whether every parameter of `space` is discrete (a point can be tried twice).
bool Discrete(const SearchSpace& space);

//! The points of `history`, ended or running: in a discrete space, not to be suggested again.
std::set<Config> Tried(const History& history);

//! A uniform draw from `space` not in `tried` (up to 100 draws again; then the last one).
Config SampleUntried(const SearchSpace& space, const std::set<Config>& tried, Rng& rng);

}  // namespace drover::hpo

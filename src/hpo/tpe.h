// The Tree-structured Parzen Estimator (Bergstra et al. 2011), multivariate,
// with the choices Watanabe (2023, "Tree-structured Parzen estimator:
// understanding its algorithm components") found to matter:
//
// - The trials with a value are ranked (those that reached a larger resource
//   first, then by loss); the best gamma(n) = min(ceil(0.1 n), 25) form the
//   "good" set, the rest the "bad" one. Running trials join the bad set
//   (constant liar), so parallel suggestions spread out instead of piling
//   onto the same point.
// - Each set is a Parzen mixture: one joint kernel per trial (a product over
//   the parameters, so dependencies between parameters are kept:
//   multivariate) plus a wide prior kernel of weight 1. Ranges are modelled in
//   their own scale (log ranges in log space); numeric kernels are truncated
//   Gaussians with Scott's bandwidth 0.2 R n^(-1/(d+4)), clipped below at
//   R / min(100, n + 1); int and ordinal parameters use the Gaussian's mass
//   over each value's cell; categorical ones a kernel that keeps most of its
//   weight on the trial's value and spreads the prior's share over the rest.
// - `candidates` points are drawn from the good mixture; the one with the
//   largest log l(x) - log g(x) is suggested. In a discrete space a point
//   already tried or running is never suggested again while an untried one
//   is found (more draws, then uniform ones).
// - The first `startup` suggestions are uniform draws.
//
// Pure; see sampler.h.
#pragma once

#include "hpo/sampler.h"

namespace drover::hpo {

class TpeSampler : public Sampler {
 public:
  TpeSampler(SearchSpace space, SamplerOptions options) : space_(std::move(space)), options_(options) {}
  Result<Config> Suggest(const History& history, Rng& rng) override;

 private:
  SearchSpace space_;
  SamplerOptions options_;
};

}  // namespace drover::hpo

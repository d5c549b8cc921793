#include "hpo/tpe.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <set>

namespace drover::hpo {
namespace {

constexpr double kPriorWeight = 1.0;
constexpr double kBandwidthFactor = 0.2;  // Scott's rule scaled as in Bergstra's and Optuna's TPE
constexpr double kFloor = 1e-300;         // no kernel gives a point zero mass: logs stay finite

// One parameter in the estimator's coordinates: log ranges in log space, int
// and ordinal values as their index (cells [k - 0.5, k + 0.5]), categorical
// ones as an index with a kernel of their own.
struct Dim {
  enum Kind { kContinuous, kDiscrete, kCategorical } kind = kContinuous;
  double lo = 0, hi = 0;  //!< the domain (discrete: -0.5 .. K - 0.5)
  int k = 0;              //!< discrete, categorical: number of values
};

Dim DimOf(const Param& p) {
  switch (p.type) {
    case ParamType::kDouble: return {Dim::kContinuous, p.min, p.max, 0};
    case ParamType::kLog: return {Dim::kContinuous, std::log(p.min), std::log(p.max), 0};
    case ParamType::kCategorical: return {Dim::kCategorical, 0, 0, static_cast<int>(p.Cardinality())};
    default: {
      const int k = static_cast<int>(p.Cardinality());
      return {Dim::kDiscrete, -0.5, k - 0.5, k};
    }
  }
}

double ToInternal(const Param& p, double v) {
  if (p.type == ParamType::kLog) return std::log(v);
  if (p.type == ParamType::kInt) return (v - p.min) / static_cast<double>(p.step);
  return v;
}

double FromInternal(const Param& p, const Dim& d, double u) {
  switch (p.type) {
    case ParamType::kDouble: return std::clamp(u, p.min, p.max);
    case ParamType::kLog: return std::clamp(std::exp(u), p.min, p.max);
    case ParamType::kInt: return p.min + std::clamp(std::round(u), 0.0, d.k - 1.0) * static_cast<double>(p.step);
    default: return std::clamp(std::round(u), 0.0, d.k - 1.0);
  }
}

// log(Phi(b) - Phi(a)) for a <= b, accurate in both tails.
double LogMass(double a, double b) {
  const double r = 1 / std::sqrt(2.0);
  double m = a > 0 ? 0.5 * (std::erfc(a * r) - std::erfc(b * r)) : 0.5 * (std::erfc(-b * r) - std::erfc(-a * r));
  return std::log(std::max(m, kFloor));
}

// A Parzen mixture over the space: one joint kernel per point, and the prior.
class Parzen {
 public:
  Parzen(const std::vector<Dim>& dims, const std::vector<std::vector<double>>& points) : dims_(dims) {
    const int n = static_cast<int>(points.size());
    const int d = static_cast<int>(dims.size());
    for (int j = 0; j < d; ++j) {
      const Dim& dim = dims[j];
      const double range = dim.hi - dim.lo;
      // Scott's rule over n points in d dimensions, clipped (Bergstra's "magic clip").
      double sigma = kBandwidthFactor * range * std::pow(std::max(n, 1), -1.0 / (d + 4));
      sigma = std::clamp(sigma, range / std::min(100.0, n + 1.0), range);
      sigma_.push_back(std::max(sigma, 1e-12));
    }
    centers_ = points;
    log_weight_.assign(n, std::log(1.0 / (n + kPriorWeight)));
    prior_log_weight_ = std::log(kPriorWeight / (n + kPriorWeight));
    cat_share_ = kPriorWeight / (n + 1.0);
  }

  double LogPdf(const std::vector<double>& u) const {
    std::vector<double> terms;
    terms.reserve(centers_.size() + 1);
    for (size_t c = 0; c < centers_.size(); ++c) {
      double s = log_weight_[c];
      for (size_t j = 0; j < dims_.size(); ++j) s += LogKernel(j, centers_[c][j], sigma_[j], u[j]);
      terms.push_back(s);
    }
    double prior = prior_log_weight_;
    for (size_t j = 0; j < dims_.size(); ++j) prior += LogPrior(j, u[j]);
    terms.push_back(prior);
    const double top = *std::max_element(terms.begin(), terms.end());
    double sum = 0;
    for (double t : terms) sum += std::exp(t - top);
    return top + std::log(sum);
  }

  std::vector<double> Sample(Rng& rng) const {
    // Pick a component by weight (the prior last), then each coordinate from its kernel.
    const size_t n = centers_.size();
    std::uniform_real_distribution<double> unit(0, 1);
    const double pick = unit(rng) * (n + kPriorWeight);
    const bool prior = pick >= static_cast<double>(n);
    const size_t c = prior ? 0 : static_cast<size_t>(pick);
    std::vector<double> u(dims_.size());
    for (size_t j = 0; j < dims_.size(); ++j) {
      const Dim& dim = dims_[j];
      if (dim.kind == Dim::kCategorical) {
        const int own = prior ? -1 : static_cast<int>(centers_[c][j]);
        // The kernel: weight 1 on its own value plus the prior's share spread over all (prior alone: uniform).
        if (own >= 0 && unit(rng) < 1.0 / (1.0 + cat_share_ * dim.k)) {
          u[j] = own;
        } else {
          u[j] = static_cast<double>(std::uniform_int_distribution<int>(0, dim.k - 1)(rng));
        }
        continue;
      }
      const double mu = prior ? 0.5 * (dim.lo + dim.hi) : centers_[c][j];
      const double sigma = prior ? dim.hi - dim.lo : sigma_[j];
      std::normal_distribution<double> normal(mu, sigma);
      double x = mu;
      for (int tries = 0; tries < 100; ++tries) {
        double y = normal(rng);
        if (y >= dim.lo && y <= dim.hi) {
          x = y;
          break;
        }
      }
      u[j] = dim.kind == Dim::kDiscrete ? std::clamp(std::round(x), 0.0, dim.k - 1.0) : std::clamp(x, dim.lo, dim.hi);
    }
    return u;
  }

 private:
  double LogKernel(size_t j, double mu, double sigma, double x) const {
    const Dim& dim = dims_[j];
    if (dim.kind == Dim::kCategorical) {
      const double p = ((static_cast<int>(mu) == static_cast<int>(x) ? 1.0 : 0.0) + cat_share_) / (1.0 + cat_share_ * dim.k);
      return std::log(p);
    }
    const double norm = LogMass((dim.lo - mu) / sigma, (dim.hi - mu) / sigma);
    if (dim.kind == Dim::kDiscrete) return LogMass((x - 0.5 - mu) / sigma, (x + 0.5 - mu) / sigma) - norm;
    const double z = (x - mu) / sigma;
    return -0.5 * z * z - std::log(sigma * std::sqrt(2 * M_PI)) - norm;
  }
  double LogPrior(size_t j, double x) const {
    const Dim& dim = dims_[j];
    if (dim.kind == Dim::kCategorical) return -std::log(static_cast<double>(dim.k));
    return LogKernel(j, 0.5 * (dim.lo + dim.hi), dim.hi - dim.lo, x);
  }

  std::vector<Dim> dims_;
  std::vector<std::vector<double>> centers_;  //!< one per point, in internal coordinates
  std::vector<double> sigma_;                 //!< per numeric dimension, shared by the points' kernels
  std::vector<double> log_weight_;            //!< per point
  double prior_log_weight_ = 0;
  double cat_share_ = 0;                      //!< a categorical kernel's uniform share
};

}  // namespace

Result<Config> TpeSampler::Suggest(const History& history, Rng& rng) {
  const std::set<Config> seen = Discrete(space_) ? Tried(history) : std::set<Config>{};
  const int n = static_cast<int>(history.done.size());
  if (n < options_.startup) return SampleUntried(space_, seen, rng);

  // Rank: further (a larger resource) first, then lower loss.
  std::vector<int> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    const Observation &x = history.done[a], &y = history.done[b];
    if (x.resource != y.resource) return x.resource > y.resource;
    return x.loss < y.loss;
  });
  const int n_good = std::clamp(static_cast<int>(std::ceil(0.1 * n)), 1, 25);

  std::vector<Dim> dims;
  for (const Param& p : space_.params()) dims.push_back(DimOf(p));
  auto internal = [&](const Config& c) {
    std::vector<double> u(c.size());
    for (size_t j = 0; j < c.size(); ++j) u[j] = ToInternal(space_.params()[j], c[j]);
    return u;
  };
  std::vector<std::vector<double>> good, bad;
  for (int i = 0; i < n; ++i) (i < n_good ? good : bad).push_back(internal(history.done[order[i]].config));
  for (const Config& c : history.pending) bad.push_back(internal(c));  // the constant liar: running counts as bad
  const Parzen l(dims, good), g(dims, bad);

  for (int round = 0; round < 10; ++round) {
    double best_score = -std::numeric_limits<double>::infinity();
    Config best;
    for (int i = 0; i < options_.candidates; ++i) {
      std::vector<double> u = l.Sample(rng);
      Config c(u.size());
      for (size_t j = 0; j < u.size(); ++j) c[j] = FromInternal(space_.params()[j], dims[j], u[j]);
      if (seen.count(c)) continue;
      const double score = l.LogPdf(internal(c)) - g.LogPdf(internal(c));
      if (score > best_score) {
        best_score = score;
        best = std::move(c);
      }
    }
    if (!best.empty()) return best;
  }
  return SampleUntried(space_, seen, rng);
}

}  // namespace drover::hpo

#include "sched/throughput_model.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <numeric>

namespace drover::sched {
namespace {

constexpr int kDims = 7;
using Vec = std::array<double, kDims>;

// The search runs over logarithms (every parameter stays positive; gamma - 1 too).
// A parameter at 0 (or below) starts the search at 1e-12, not at -inf.
Vec ToLog(const ThroughputParams& p) {
  auto log = [](double x) { return std::log(std::max(x, 1e-12)); };
  return {log(p.a_grad), log(p.b_grad), log(p.a_local), log(p.b_local),
          log(p.a_node), log(p.b_node), log(std::max(p.gamma - 1, 1e-3))};
}

ThroughputParams FromLog(const Vec& v) {
  ThroughputParams p;
  p.a_grad = std::exp(v[0]);
  p.b_grad = std::exp(v[1]);
  p.a_local = std::exp(v[2]);
  p.b_local = std::exp(v[3]);
  p.a_node = std::exp(v[4]);
  p.b_node = std::exp(v[5]);
  p.gamma = 1 + std::min(std::exp(v[6]), 20.0);
  return p;
}

// Nelder-Mead on `f` from `start`, with steps of `scale` in each direction.
template <typename F>
Vec Minimize(const F& f, const Vec& start, double scale, int iterations) {
  std::array<Vec, kDims + 1> simplex;
  std::array<double, kDims + 1> value;
  for (int i = 0; i <= kDims; ++i) {
    simplex[i] = start;
    if (i > 0) simplex[i][i - 1] += scale;
    value[i] = f(simplex[i]);
  }
  for (int it = 0; it < iterations; ++it) {
    std::array<int, kDims + 1> order;
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](int a, int b) { return value[a] < value[b]; });
    const int best = order[0], worst = order[kDims], second = order[kDims - 1];
    if (value[worst] - value[best] < 1e-12) break;
    Vec centroid{};
    for (int i = 0; i <= kDims; ++i) {
      if (i == worst) continue;
      for (int d = 0; d < kDims; ++d) centroid[d] += simplex[i][d] / kDims;
    }
    auto along = [&](double t) {
      Vec x;
      for (int d = 0; d < kDims; ++d) x[d] = centroid[d] + t * (simplex[worst][d] - centroid[d]);
      return x;
    };
    Vec reflected = along(-1);
    double fr = f(reflected);
    if (fr < value[best]) {
      Vec expanded = along(-2);
      double fe = f(expanded);
      if (fe < fr) {
        simplex[worst] = expanded, value[worst] = fe;
      } else {
        simplex[worst] = reflected, value[worst] = fr;
      }
    } else if (fr < value[second]) {
      simplex[worst] = reflected, value[worst] = fr;
    } else {
      Vec contracted = along(0.5);
      double fc = f(contracted);
      if (fc < value[worst]) {
        simplex[worst] = contracted, value[worst] = fc;
      } else {
        for (int i = 0; i <= kDims; ++i) {  // shrink towards the best
          if (i == best) continue;
          for (int d = 0; d < kDims; ++d) simplex[i][d] = simplex[best][d] + 0.5 * (simplex[i][d] - simplex[best][d]);
          value[i] = f(simplex[i]);
        }
      }
    }
  }
  int best = static_cast<int>(std::min_element(value.begin(), value.end()) - value.begin());
  return simplex[best];
}

}  // namespace

double SyncTime(const ThroughputParams& p, int nodes, int replicas) {
  if (replicas <= 1) return 0;
  return nodes > 1 ? p.a_node + p.b_node * (replicas - 2) : p.a_local + p.b_local * (replicas - 2);
}

double CombineStep(const ThroughputParams& p, double grad, double sync) {
  if (sync <= 0) return grad;
  return std::pow(std::pow(grad, p.gamma) + std::pow(sync, p.gamma), 1 / p.gamma);
}

ThroughputParams FitThroughput(const std::vector<StepObservation>& obs, const ThroughputParams& prior,
                               const ThroughputParams* start, const FitTies& ties) {
  std::vector<StepObservation> use;
  for (const StepObservation& o : obs) {
    if (o.step_time > 0 && o.replicas >= 1 && o.nodes >= 1 && o.local_batch > 0) use.push_back(o);
  }
  if (use.empty()) return prior;
  const Vec anchor = ToLog(prior);
  // A light pull towards the prior: parameters the observations do not
  // determine (no multi-node step yet, say) stay where the prior puts them.
  const double pull = 1e-5;
  auto tied = [&](const Vec& v) {
    ThroughputParams p = FromLog(v);
    if (ties.no_local_slope) p.b_local = 0;
    if (ties.node_as_local) p.a_node = p.a_local;
    if (ties.node_as_local || ties.node_slope_as_local) p.b_node = p.b_local;
    return p;
  };
  auto loss = [&](const Vec& v) {
    const ThroughputParams p = tied(v);
    double sum = 0;
    for (const StepObservation& o : use) {
      const double e = std::log(PredictStepTime(p, o.nodes, o.replicas, o.local_batch)) - std::log(o.step_time);
      sum += e * e;
      if (o.compute_time > 0) {
        const double c = std::log(ComputeTime(p, o.local_batch)) - std::log(o.compute_time);
        sum += c * c;
      }
    }
    double reg = 0;
    for (int d = 0; d < kDims; ++d) reg += (v[d] - anchor[d]) * (v[d] - anchor[d]);
    return sum / static_cast<double>(use.size()) + pull * reg;
  };
  // Restarts from the best point so far: Nelder-Mead stalls on this surface otherwise.
  Vec best = anchor;
  if (start) {
    // A parameter a tie held at 0 starts again from the prior's value.
    const Vec from = ToLog(*start);
    for (int d = 0; d < kDims; ++d) best[d] = from[d] > std::log(1e-12) ? from[d] : anchor[d];
  }
  const int rounds = start ? 4 : 10;
  for (int round = 0; round < rounds; ++round) best = Minimize(loss, best, round % 2 == 0 ? 1.0 : 0.3, 4000);
  return tied(best);
}

}  // namespace drover::sched

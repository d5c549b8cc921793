#include "sched/fair_share.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace drover::sched {

std::vector<double> WaterFill(double amount, const std::vector<double>& weights,
                              const std::vector<double>& caps) {
  size_t n = weights.size();
  std::vector<double> x(n, 0.0);
  std::vector<size_t> idx;
  for (size_t i = 0; i < n; ++i) {
    if (weights[i] > 0 && caps[i] > 0) idx.push_back(i);
  }
  // Fill in order of the level (cap / weight) at which each item saturates.
  std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) {
    double la = caps[a] / weights[a], lb = caps[b] / weights[b];
    return la != lb ? la < lb : a < b;
  });
  double weight_left = 0;
  for (size_t i : idx) weight_left += weights[i];
  double left = std::max(0.0, amount);
  for (size_t k = 0; k < idx.size() && left > 1e-12; ++k) {
    size_t i = idx[k];
    double level = left / weight_left;
    if (caps[i] / weights[i] <= level) {
      x[i] = caps[i];
    } else {
      // No remaining item saturates: everyone left gets the same level.
      for (size_t m = k; m < idx.size(); ++m) x[idx[m]] = weights[idx[m]] * level;
      break;
    }
    left -= x[i];
    weight_left -= weights[i];
  }
  return x;
}

std::vector<int64_t> RoundPreservingSum(const std::vector<double>& x, int64_t total) {
  std::vector<int64_t> out(x.size());
  std::vector<size_t> order(x.size());
  int64_t sum = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    out[i] = static_cast<int64_t>(std::floor(x[i] + 1e-9));
    sum += out[i];
    order[i] = i;
  }
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return (x[a] - static_cast<double>(out[a])) > (x[b] - static_cast<double>(out[b]));
  });
  for (size_t k = 0; k < order.size() && sum < total; ++k) {
    if (x[order[k]] - static_cast<double>(out[order[k]]) > 1e-9) {
      ++out[order[k]];
      ++sum;
    }
  }
  return out;
}

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

struct Share {
  double owned, share, cap;
  bool lend;
};

// Divides `amount` among `parts` as described in the header; returns integers.
std::vector<int64_t> Divide(int64_t amount, const std::vector<Share>& parts) {
  size_t n = parts.size();
  std::vector<double> guaranteed(n), weights(n), caps(n);
  for (size_t i = 0; i < n; ++i) {
    guaranteed[i] = std::min(parts[i].owned, parts[i].cap);
    weights[i] = std::max(parts[i].owned, 1e-9);
  }
  double want = std::accumulate(guaranteed.begin(), guaranteed.end(), 0.0);
  std::vector<double> x;
  if (want >= static_cast<double>(amount)) {
    // Over-committed (the root's children own more than the hosts that are up):
    // guarantees shrink in proportion to what each owns.
    x = WaterFill(static_cast<double>(amount), weights, guaranteed);
  } else {
    double reserved = 0;
    for (size_t i = 0; i < n; ++i) {
      if (!parts[i].lend) reserved += parts[i].owned - guaranteed[i];
    }
    double rest = std::max(0.0, static_cast<double>(amount) - want - reserved);
    for (size_t i = 0; i < n; ++i) {
      weights[i] = parts[i].share;
      caps[i] = parts[i].cap - guaranteed[i];
    }
    x = WaterFill(rest, weights, caps);
    for (size_t i = 0; i < n; ++i) x[i] += guaranteed[i];
  }
  double sum = std::accumulate(x.begin(), x.end(), 0.0);
  return RoundPreservingSum(x, static_cast<int64_t>(std::llround(sum)));
}

}  // namespace

std::vector<int64_t> ComputeEntitlements(const ConsumerTree& tree,
                                         const std::vector<int64_t>& own_demand,
                                         int64_t capacity) {
  int n = tree.size();
  // Subtree demand, children before parents (children always have larger indices).
  std::vector<int64_t> demand(own_demand.begin(), own_demand.end());
  demand.resize(n, 0);
  for (int i = n - 1; i > 0; --i) demand[tree.node(i).parent] += demand[i];

  std::vector<int64_t> ent(n, 0);
  ent[0] = std::min(capacity, demand[0]);
  for (int i = 0; i < n; ++i) {
    const ConsumerNode& node = tree.node(i);
    if (node.children.empty()) continue;
    std::vector<Share> parts;
    for (int c : node.children) {
      const ConsumerPlan& p = tree.node(c).plan;
      double cap = static_cast<double>(demand[c]);
      if (p.limit) cap = std::min(cap, static_cast<double>(*p.limit));
      if (!p.borrow) cap = std::min(cap, static_cast<double>(p.owned));
      parts.push_back({static_cast<double>(p.owned), p.share, cap, p.lend});
    }
    // Jobs attached to this node itself compete as a child owning nothing.
    parts.push_back({0.0, 1.0, static_cast<double>(i < static_cast<int>(own_demand.size()) ? own_demand[i] : 0), true});
    std::vector<int64_t> got = Divide(ent[i], parts);
    for (size_t k = 0; k < node.children.size(); ++k) ent[node.children[k]] = got[k];
  }
  return ent;
}

}  // namespace drover::sched

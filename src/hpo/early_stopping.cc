#include "hpo/early_stopping.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace drover::hpo {
namespace {

// A loss as the user's metric.
std::string Shown(const StoppingOptions& o, double loss) { return ShortNumber(o.maximize ? -loss : loss); }

// The loss a curve had on reaching resource `r` (its first point at or past
// it), or nullptr if it has not reached it.
const std::pair<double, double>* At(const Curve& c, double r) {
  for (const auto& p : c.points) {
    if (p.first >= r - 1e-9) return &p;
  }
  return nullptr;
}

// The q-quantile of `v` (linear interpolation), v non-empty.
double Quantile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const double at = q * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(at)), hi = static_cast<size_t>(std::ceil(at));
  return v[lo] + (v[hi] - v[lo]) * (at - static_cast<double>(lo));
}

class SuccessiveHalving : public EarlyStopper {
 public:
  SuccessiveHalving(const StoppingOptions& o, bool hyperband) : o_(o) {
    s_max_ = static_cast<int>(std::floor(std::log(o.max_resource / o.min_resource) / std::log(o.eta) + 1e-9));
    if (!hyperband) return;
    for (int s = 0; s <= s_max_; ++s) {
      // Bracket s starts at r_min * eta^s: the most aggressive (s = 0) gets the most trials,
      // Hyperband's ceil((s_max + 1) / (a + 1) * eta^a) for aggressiveness a = s_max - s.
      const int a = s_max_ - s;
      int n = static_cast<int>(std::ceil((s_max_ + 1.0) / (a + 1.0) * std::pow(o.eta, a)));
      deal_.insert(deal_.end(), n, s);
    }
    // Interleave so that every bracket gets trials early: deal by stride through the list.
    std::vector<int> order;
    const size_t stride = std::max<size_t>(1, deal_.size() / static_cast<size_t>(s_max_ + 1));
    for (size_t start = 0; start < stride; ++start) {
      for (size_t i = start; i < deal_.size(); i += stride) order.push_back(deal_[i]);
    }
    deal_ = order;
  }

  int BracketOf(int64_t n) const override {
    return deal_.empty() ? 0 : deal_[static_cast<size_t>(n % static_cast<int64_t>(deal_.size()))];
  }

  Verdict Judge(const std::vector<Curve>& curves, size_t i) const override {
    const Curve& me = curves[i];
    Verdict v;
    if (me.points.empty()) return v;
    const double r_now = me.points.back().first;
    // The rungs of its bracket below r_max: r_min * eta^(bracket + k).
    for (int k = 0;; ++k) {
      const double rung = o_.min_resource * std::pow(o_.eta, me.bracket + k);
      if (rung >= o_.max_resource - 1e-9 || rung > r_now + 1e-9) break;
      if (k <= me.judged) {
        v.rung = k;
        continue;  // passed already: a promotion is final
      }
      const auto* mine = At(me, rung);
      std::vector<double> recorded;
      for (const Curve& c : curves) {
        if (c.bracket != me.bracket) continue;
        if (const auto* p = At(c, rung)) recorded.push_back(p->second);
      }
      const double cutoff = Quantile(recorded, 1.0 / o_.eta);
      if (mine->second > cutoff) {
        v.stop = true;
        v.reason = "rung " + std::to_string(k) + " (" + o_.resource + " " + ShortNumber(rung) + "): " + o_.metric + " " +
                   Shown(o_, mine->second) + " is not in the best 1/" + ShortNumber(o_.eta) + " of the " +
                   std::to_string(recorded.size()) + " trials there (cutoff " + Shown(o_, cutoff) + ")";
        return v;
      }
      v.rung = k;
    }
    return v;
  }

 private:
  StoppingOptions o_;
  int s_max_ = 0;
  std::vector<int> deal_;  //!< hyperband: the bracket of trial n is deal_[n % size]
};

class MedianStopping : public EarlyStopper {
 public:
  explicit MedianStopping(const StoppingOptions& o) : o_(o) {}
  Verdict Judge(const std::vector<Curve>& curves, size_t i) const override {
    const Curve& me = curves[i];
    Verdict v;
    if (me.points.empty()) return v;
    const double r = me.points.back().first;
    if (r < o_.min_resource - 1e-9 || r >= o_.max_resource - 1e-9) return v;
    double best = INFINITY;
    for (const auto& p : me.points) best = std::min(best, p.second);
    std::vector<double> means;  // the others' running means up to r
    for (size_t j = 0; j < curves.size(); ++j) {
      if (j == i || !At(curves[j], r)) continue;
      double sum = 0;
      int n = 0;
      for (const auto& p : curves[j].points) {
        if (p.first > r + 1e-9) break;
        sum += p.second;
        ++n;
      }
      means.push_back(sum / n);
    }
    if (means.size() < 3) return v;
    const double median = Quantile(means, 0.5);
    if (best > median) {
      v.stop = true;
      v.reason = "at " + o_.resource + " " + ShortNumber(r) + " its best " + o_.metric + " " + Shown(o_, best) +
                 " is " + (o_.maximize ? "below" : "above") + " the median " + Shown(o_, median) +
                 " of the running means of the " + std::to_string(means.size()) + " other trials there";
    }
    return v;
  }

 private:
  StoppingOptions o_;
};

}  // namespace

std::string ShortNumber(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

Result<std::unique_ptr<EarlyStopper>> MakeEarlyStopper(const std::string& name, const StoppingOptions& o) {
  if (!(o.min_resource > 0)) return InvalidArgument("resource.min: expected a number above 0");
  if (!(o.max_resource >= o.min_resource)) return InvalidArgument("resource.max: expected at least resource.min");
  if (!(o.eta >= 2)) return InvalidArgument("resource.reduction_factor: expected at least 2");
  if (name == "asha") return std::unique_ptr<EarlyStopper>(new SuccessiveHalving(o, false));
  if (name == "hyperband") return std::unique_ptr<EarlyStopper>(new SuccessiveHalving(o, true));
  if (name == "median") return std::unique_ptr<EarlyStopper>(new MedianStopping(o));
  return InvalidArgument("early stopping: unknown rule \"" + name + "\"; expected asha, hyperband or median");
}

}  // namespace drover::hpo

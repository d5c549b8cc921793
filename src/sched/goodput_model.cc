#include "sched/goodput_model.h"

#include <algorithm>
#include <cmath>
#include <set>

namespace drover::sched {
namespace {

constexpr int kMaxAccum = 64;

bool Valid(const StepObservation& o) {
  return o.step_time > 0 && o.compute_time >= 0 && o.nodes >= 1 && o.replicas >= 1 && o.local_batch > 0;
}

// Candidate local batches in [lo, hi]: every integer up to 64, then steps of
// about 3%, and both ends.
std::vector<double> LocalGrid(double lo, double hi) {
  std::vector<double> out;
  if (!(hi >= lo) || !(lo > 0)) return out;
  for (double m = std::ceil(lo); m <= hi && m <= 64; m += 1) out.push_back(m);
  for (double m = std::max(65.0, std::ceil(lo)); m <= hi; m = std::ceil(m * 1.03)) out.push_back(m);
  if (out.empty() || out.front() != lo) out.insert(out.begin(), lo);
  if (out.back() != hi) out.push_back(hi);
  return out;
}

}  // namespace

GradientNoise EstimateNoise(double local_sqr, double global_sqr, double local_batch, double global_batch,
                            double init_batch) {
  if (!(local_batch > 0) || !(global_batch > local_batch) || !(init_batch > 0) || !(local_sqr >= 0) ||
      !(global_sqr >= 0) || !std::isfinite(local_sqr + global_sqr + global_batch + init_batch)) {
    return {};
  }
  const double trace = std::max(0.0, (local_sqr - global_sqr) / (1 / local_batch - 1 / global_batch));
  // A small floor keeps |G|^2 positive: the estimate of a nearly converged job can dip below 0.
  const double sqr = std::max(global_sqr - trace / global_batch, 1e-6 * global_sqr);
  GradientNoise n{sqr, trace / init_batch};
  return n.known() ? n : GradientNoise{};
}

double BatchGain(const GradientNoise& noise, double init_batch, double batch, const NoiseScaling& scaling) {
  if (!noise.known() || !(init_batch > 0)) return 1.0;
  const double s = batch / init_batch;
  double var = noise.var;
  if (scaling.exponent > 0 && scaling.at_batch > 0) {
    var *= std::pow(batch / scaling.at_batch, scaling.exponent);
  }
  return (var + noise.sqr) / (var / s + noise.sqr);
}

void NoiseGrowthFit::Observe(int64_t epoch, double batch, const GradientNoise& noise) {
  if (!(batch > 0) || !(noise.sqr > 0) || !(noise.var > 0) || !std::isfinite(batch + noise.sqr + noise.var)) return;
  const int64_t b = std::max<int64_t>(1, std::llround(batch));
  if (by_epoch_.size() >= kMaxEpochs && !by_epoch_.contains(epoch)) {
    if (epoch < by_epoch_.begin()->first) return;  // older than all kept
    by_epoch_.erase(by_epoch_.begin());
  }
  std::map<int64_t, double>& at = by_epoch_[epoch];
  if (at.size() >= kMaxBatches && !at.contains(b)) return;
  at[b] = std::log(noise.var / noise.sqr);
  dirty_ = true;
}

double NoiseGrowthFit::Exponent() const {
  if (!dirty_) return exponent_;
  dirty_ = false;
  double sxy = 0, sxx = 0;
  for (const auto& [epoch, at] : by_epoch_) {
    if (at.size() < 2) continue;
    double mx = 0, my = 0;
    for (const auto& [b, y] : at) mx += std::log(static_cast<double>(b)), my += y;
    mx /= static_cast<double>(at.size());
    my /= static_cast<double>(at.size());
    for (const auto& [b, y] : at) {
      const double dx = std::log(static_cast<double>(b)) - mx;
      sxy += dx * (y - my);
      sxx += dx * dx;
    }
  }
  exponent_ = sxx > 0 ? std::clamp(sxy / sxx, 0.0, 1.0) : 0.0;
  return exponent_;
}

ComputeCorrection::ComputeCorrection(const std::vector<std::pair<double, double>>& ratios) {
  for (const auto& [m, r] : ratios) {
    if (m > 0 && r > 0 && std::isfinite(m) && std::isfinite(r)) points_.push_back({std::log(m), std::log(r), m});
  }
  std::sort(points_.begin(), points_.end());
}

std::vector<double> ComputeCorrection::batches() const {
  std::vector<double> out;
  for (const Point& p : points_) out.push_back(p.m);
  return out;
}

double ComputeCorrection::At(double local_batch) const {
  if (points_.empty() || !(local_batch > 0)) return 1.0;
  const double x = std::log(local_batch);
  if (x <= points_.front().log_m) return std::exp(points_.front().log_ratio);
  if (x >= points_.back().log_m) return std::exp(points_.back().log_ratio);
  auto hi = std::upper_bound(points_.begin(), points_.end(), x, [](double v, const Point& p) { return v < p.log_m; });
  auto lo = std::prev(hi);
  const double t = (x - lo->log_m) / (hi->log_m - lo->log_m);
  return std::exp(lo->log_ratio + t * (hi->log_ratio - lo->log_ratio));
}

BatchChoice BestBatch(const ThroughputParams& params, const GradientNoise& noise, const BatchLimits& limits,
                      int nodes, int replicas, const ComputeCorrection& correction, int sync_replicas,
                      const NoiseScaling& scaling, double measured_sync) {
  BatchChoice best;
  best.replicas = replicas;
  if (replicas <= 0 || nodes <= 0) return best;
  const double sync =
      measured_sync >= 0 ? measured_sync : SyncTime(params, nodes, sync_replicas > 0 ? sync_replicas : replicas);
  auto consider = [&](double m, int accum) {
    const double global = replicas * m * (accum + 1);
    const double grad = ComputeTime(params, m) * correction.At(m);
    const double time = CombineStep(params, grad, sync) + accum * grad;
    if (!(time > 0)) return;
    const double goodput = BatchGain(noise, limits.init_batch, global, scaling) / time;
    if (!best.feasible || goodput > best.goodput) {
      best.local_batch = m;
      best.accum_steps = accum;
      best.global_batch = global;
      best.step_time = time;
      best.samples_per_s = global / time;
      best.goodput = goodput;
      best.feasible = true;
    }
  };
  if (!limits.adaptive) {
    // The batch is fixed: the fewest micro-steps whose slice fits.
    for (int accum = 0; accum <= kMaxAccum; ++accum) {
      const double m = limits.init_batch / (replicas * (accum + 1.0));
      if (m < limits.min_local) break;
      if (m <= limits.max_local) {
        consider(m, accum);
        break;
      }
    }
    return best;
  }
  // Adaptive. Compute time is affine in m with a positive intercept, so for a
  // given global batch fewer, larger micro-steps are never slower:
  // accumulation only pays once the local batch is at its largest, or at a
  // local batch the job measured faster than the affine form says.
  const double lo = std::max(limits.min_local, limits.init_batch / replicas);
  const double hi = std::min(limits.max_local, limits.max_batch / replicas);
  for (double m : LocalGrid(lo, hi)) consider(m, 0);
  std::vector<double> micro = correction.batches();  // ascending
  if (micro.empty() || micro.back() != limits.max_local) micro.push_back(limits.max_local);
  for (double m : micro) {
    if (m < limits.min_local || m > limits.max_local) continue;
    for (int accum = 1; accum <= kMaxAccum; ++accum) {
      const double global = replicas * m * (accum + 1.0);
      if (global > limits.max_batch) break;
      if (global >= limits.init_batch) consider(m, accum);
    }
  }
  if (!best.feasible && replicas * limits.min_local <= limits.max_batch) {
    // init_batch / replicas is below min_local: run at min_local, a larger batch than M0.
    consider(limits.min_local, 0);
  }
  return best;
}

GoodputModel::GoodputModel(BatchLimits limits, ThroughputParams prior, bool learned_prior)
    : limits_(limits), prior_(prior), learned_prior_(learned_prior), raw_(prior), fit_(prior) {}

void GoodputModel::Observe(const StepObservation& step) {
  if (!Valid(step)) return;
  const Key key = KeyOf(step);
  auto it = points_.find(key);
  if (it == points_.end()) {
    if (points_.size() >= kMaxPoints) {
      auto oldest = std::min_element(points_.begin(), points_.end(),
                                     [](const auto& a, const auto& b) { return a.second.seq < b.second.seq; });
      points_.erase(oldest);
    }
    points_[key] = Point{step, 1, ++seq_};
    dirty_ = true;
    return;
  }
  Point& p = it->second;
  const double before = p.mean.step_time, before_compute = p.mean.compute_time;
  // A running mean that keeps following a job whose speed drifts.
  const double w = 1.0 / static_cast<double>(std::min<int64_t>(p.count + 1, 20));
  p.mean.step_time += w * (step.step_time - p.mean.step_time);
  if (step.compute_time > 0) {
    p.mean.compute_time =
        p.mean.compute_time > 0 ? p.mean.compute_time + w * (step.compute_time - p.mean.compute_time) : step.compute_time;
  }
  ++p.count;
  p.seq = ++seq_;
  if (std::abs(p.mean.step_time - before) > 0.02 * before ||
      std::abs(p.mean.compute_time - before_compute) > 0.02 * before_compute) {
    dirty_ = true;
  }
}

void GoodputModel::ObserveNoise(const GradientNoise& noise, double at_batch, std::optional<int64_t> epoch) {
  if (!(noise.sqr >= 0) || !(noise.var >= 0) || !noise.known() || !std::isfinite(noise.sqr + noise.var)) return;
  if (!(at_batch > 0) || !std::isfinite(at_batch)) at_batch = 0;
  const double before = noise_scaling().exponent;
  if (epoch && at_batch > 0) growth_.Observe(*epoch, at_batch, noise);
  if (!(noise_ == noise) || at_batch != noise_batch_ || noise_scaling().exponent != before) Invalidate();
  noise_ = noise;
  noise_batch_ = at_batch;
}

void GoodputModel::SetNoiseGrowth(std::optional<double> exponent) {
  if (exponent && !std::isfinite(*exponent)) return;
  const double before = noise_scaling().exponent;
  growth_from_kind_ = exponent ? std::optional(std::clamp(*exponent, 0.0, 1.0)) : std::nullopt;
  if (noise_scaling().exponent != before) Invalidate();
}

NoiseScaling GoodputModel::noise_scaling() const {
  return {noise_batch_, growth_from_kind_ ? *growth_from_kind_ : growth_.Exponent()};
}

void GoodputModel::Refit() {
  dirty_ = false;
  Invalidate();
  std::vector<StepObservation> obs;
  std::set<int64_t> batches;
  std::set<int> local_sync, node_sync;  // replica counts seen syncing within one node, across nodes
  for (const auto& [key, p] : points_) {
    obs.push_back(p.mean);
    if (p.mean.replicas > 1) (p.mean.nodes > 1 ? node_sync : local_sync).insert(p.mean.replicas);
    batches.insert(std::get<2>(key));
  }
  local_sync_max_ = local_sync.empty() ? 0 : *local_sync.rbegin();
  node_sync_max_ = node_sync.empty() ? 0 : *node_sync.rbegin();
  correction_ = ComputeCorrection();
  measured_sync_.clear();
  if (obs.empty()) {
    raw_ = fit_ = prior_;
    return;
  }
  // What the points cannot tell apart is tied during the fit, unless a
  // learned prior decides it (see the header).
  FitTies ties;
  if (!learned_prior_) {
    ties.no_local_slope = local_sync.size() < 2;
    ties.node_as_local = node_sync.empty();
    ties.node_slope_as_local = node_sync.size() == 1;
  }
  // Start from the last fit: a new point moves it a little.
  raw_ = FitThroughput(obs, prior_, &raw_, ties);
  ThroughputParams p = raw_;
  if (!learned_prior_) {
    // What no point determines is assumed as good as what some point shows.
    if (batches.size() == 1) {
      const double m = obs.front().local_batch;
      const double t = ComputeTime(p, m);
      p.a_grad = t / 2;
      p.b_grad = t / (2 * m);
    }
    if (local_sync.empty() && node_sync.empty()) {
      p.a_local = p.a_node = 0;
    } else if (local_sync.empty()) {
      p.a_local = std::min(p.a_local, p.a_node);
    }
  }
  fit_ = p;
  // Measured compute against the fit, by local batch (the mean over its points).
  std::map<int64_t, std::pair<double, int>> ratio;
  for (const auto& [key, point] : points_) {
    if (point.mean.compute_time <= 0) continue;
    auto& [sum, n] = ratio[std::get<2>(key)];
    sum += point.mean.compute_time / ComputeTime(fit_, point.mean.local_batch);
    ++n;
  }
  std::vector<std::pair<double, double>> ratios;
  for (const auto& [m16, r] : ratio) ratios.emplace_back(static_cast<double>(m16) / 16.0, r.first / r.second);
  correction_ = ComputeCorrection(ratios);
  // Sync measured by (nodes, replicas): what of each point's step its
  // compute (measured, else the corrected fit's) does not explain, undoing
  // the overlap: T_step^g = T_grad^g + T_sync^g.
  std::map<std::pair<int, int>, std::pair<double, int>> sync_sum;
  for (const auto& [key, point] : points_) {
    const StepObservation& o = point.mean;
    if (o.replicas < 2) continue;
    const double grad =
        o.compute_time > 0 ? o.compute_time : ComputeTime(fit_, o.local_batch) * correction_.At(o.local_batch);
    const double g = fit_.gamma;
    const double sync = o.step_time > grad ? std::pow(std::pow(o.step_time, g) - std::pow(grad, g), 1.0 / g) : 0.0;
    auto& [sum, n] = sync_sum[{o.nodes, o.replicas}];
    sum += sync;
    ++n;
  }
  for (const auto& [where, s] : sync_sum) measured_sync_[where] = s.first / s.second;
}

const ThroughputParams& GoodputModel::Params() {
  if (dirty_) Refit();
  return fit_;
}

BatchChoice GoodputModel::Best(int nodes, int replicas) {
  const ThroughputParams& params = Params();
  if (auto it = best_.find({nodes, replicas}); it != best_.end()) return it->second;
  // Sync beyond the most replicas seen syncing (across nodes, or within one
  // when no multi-node step was seen) is what it was there.
  const int seen = nodes > 1 && node_sync_max_ > 0 ? node_sync_max_ : local_sync_max_;
  const int sync_replicas = seen >= 2 ? std::min(replicas, seen) : replicas;
  const std::optional<double> measured = MeasuredSync(nodes, replicas);
  return best_[{nodes, replicas}] = BestBatch(params, noise_, limits_, nodes, replicas, correction_, sync_replicas,
                                              noise_scaling(), measured.value_or(-1));
}

std::optional<double> GoodputModel::MeasuredSync(int nodes, int replicas) {
  if (dirty_) Refit();
  auto it = measured_sync_.find({nodes, replicas});
  if (it == measured_sync_.end()) return std::nullopt;
  return it->second;
}

std::vector<double> GoodputModel::Profile(int max_workers, int gpus_per_node) {
  gpus_per_node = std::max(gpus_per_node, 1);
  if ((points_.empty() && !learned_prior_) || max_workers < 1) return {};
  if (dirty_) Refit();
  if (profile_valid_ && profile_key_ == std::pair{max_workers, gpus_per_node}) return profile_;
  std::vector<double> speedup(max_workers + 1, 0.0);
  const double base = Best(1, 1).goodput;
  if (!(base > 0)) return {};
  for (int k = 1; k <= max_workers; ++k) {
    const BatchChoice c = Best((k + gpus_per_node - 1) / gpus_per_node, k);
    speedup[k] = c.feasible ? c.goodput / base : 0.0;
  }
  profile_ = speedup;
  profile_key_ = {max_workers, gpus_per_node};
  profile_valid_ = true;
  return speedup;
}

GoodputModel::Key GoodputModel::KeyOf(const StepObservation& o) {
  return {o.nodes, o.replicas, std::llround(o.local_batch * 16)};
}

int GoodputModel::MaxReplicasSeen() const {
  int most = 0;
  for (const auto& [key, p] : points_) most = std::max(most, p.mean.replicas);
  return most;
}

bool GoodputModel::Informative() const {
  std::set<int> synced;
  for (const auto& [key, p] : points_) {
    if (p.mean.replicas > 1) synced.insert(p.mean.replicas);
  }
  return points_.size() >= 4 && synced.size() >= 2;
}

int64_t GoodputModel::steps() const {
  int64_t n = 0;
  for (const auto& [key, p] : points_) n += p.count;
  return n;
}

std::vector<std::pair<StepObservation, int64_t>> GoodputModel::Points() const {
  std::vector<std::pair<StepObservation, int64_t>> out;
  for (const auto& [key, p] : points_) out.emplace_back(p.mean, p.count);
  return out;
}

void GoodputModel::Restore(const std::vector<std::pair<StepObservation, int64_t>>& points,
                           const GradientNoise& noise, double noise_batch) {
  points_.clear();
  for (const auto& [obs, count] : points) {
    if (!Valid(obs) || count < 1) continue;
    if (points_.size() >= kMaxPoints) break;
    points_[KeyOf(obs)] = Point{obs, count, ++seq_};
  }
  noise_ = noise.known() ? noise : GradientNoise{};
  noise_batch_ = noise.known() && noise_batch > 0 && std::isfinite(noise_batch) ? noise_batch : 0;
  raw_ = fit_ = prior_;
  Invalidate();
  dirty_ = true;
}

void PriorBook::Offer(const std::string& kind, GoodputModel& model) {
  if (model.Informative()) by_kind_[kind] = model.Params();
}

const ThroughputParams* PriorBook::Find(const std::string& kind) const {
  auto it = by_kind_.find(kind);
  return it == by_kind_.end() ? nullptr : &it->second;
}

void PriorBook::ObserveNoise(const std::string& kind, int64_t epoch, double batch, const GradientNoise& noise) {
  growth_[kind].Observe(epoch, batch, noise);
}

double PriorBook::NoiseGrowth(const std::string& kind) const {
  auto it = growth_.find(kind);
  return it == growth_.end() ? 0.0 : it->second.Exponent();
}

}  // namespace drover::sched

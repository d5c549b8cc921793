// GoodputModel: what a job has shown of itself, learned online, turned into
// the speedup profile the scheduler takes (cluster_state.h JobState::speedup).
//
// Two parts, as Pollux (Qiao et al., OSDI 2021) has them:
//  - throughput: the step time of K replicas over N nodes at local batch m,
//    ThroughputParams fitted to the steps observed so far (throughput_model.h);
//  - statistical efficiency: how much of a bigger batch's samples are worth,
//    from the gradient noise the job measures. With the squared norm of the
//    true gradient |g|^2 (`sqr`) and the variance of a one-batch estimate of it
//    (`var`), both at the job's initial batch M0, a step at global batch M
//    makes the progress of
//        gain(M) = (var + sqr) / (var / s + sqr),   s = M / M0
//    steps at M0 (1 <= gain <= s). Goodput is gain over the time of a step.
//
// A geometry is (replicas K, local batch m per micro-step, accumulation
// steps a): global batch M = K m (a + 1), time T_step(m) + a T_grad(m). A job
// with a fixed batch (BatchLimits::adaptive false) keeps M = M0 and splits it;
// an adaptive one picks the M in [M0, max_batch] with the best goodput.
//
// What is not yet observed comes from one of two places:
//  - a learned prior, the fit of an earlier job of the same kind (PriorBook:
//    in the simulator the same application, on the server the same command
//    in the same consumer), which fills in what this job's points leave open;
//  - otherwise it is assumed, as Pollux's fit does, to be as good as what is
//    seen: without a multi-node step, syncing across nodes costs what it
//    does within one; with one replica count syncing within a node (or
//    across nodes), sync does not grow with replicas there; with a single
//    local batch, fixed and per-sample compute split the time in half.
//    (Pollux also stops the profile at twice the most replicas a job has
//    run on; in drover's simulator that cost 1-4% mean JCT on workloads 1-4,
//    so the optimistic guess is trusted instead: a job that scales worse
//    than hoped shows it within a round and gives GPUs back.)
// Either way, two rules keep the affine form from overruling the job's own
// steps:
//  - compute at a local batch the job has run at is what it measured there
//    (ComputeCorrection), so a job whose compute bends at large batches is
//    not steered to them, and may accumulate micro-batches of a size it
//    measured fast (in the simulator, mean JCT about 3% lower on the Pollux
//    workloads 1-4; DeepSpeech2's compute bends past 57 samples);
//  - synchronisation beyond the most replicas seen syncing is what it was
//    there: a ring all-reduce moves about twice the gradient whatever the
//    replica count, so the linear growth fitted over small counts is not
//    extrapolated (about 1% lower; YOLOv3, whose sync flattens from 3 nodes
//    on, gained most);
//  - synchronisation on a (nodes, replicas) the job has run on is what it
//    measured there: the step's time beyond its compute, with the fitted
//    overlap undone. Placements do not all follow one form: in Pollux's
//    traces YOLOv3 syncs in 1.27 s on 2 nodes of 4 and in 0.82 s on 3, so
//    the fit, bent between them, sends a job back to a placement it found
//    slow (about 1% lower mean JCT, 24-run mean 0.926 to 0.918 of Pollux).
//    Only the job's own steps count: another job's, derived under another
//    fit's overlap, made it worse (0.932).
// (Simulator figures are means over the four workloads, each also shifted
// by 20 and 40 s, since single runs move by 3-5% with any change.)
//
// Pure and deterministic; a plain value, not synchronised.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "sched/throughput_model.h"

namespace drover::sched {

//! What a job declares about its batch at submission.
struct BatchLimits {
  double init_batch = 64;  //!< global batch its hyperparameters are set for (M0)
  double max_batch = 64;   //!< largest global batch it accepts (adaptive only)
  double min_local = 1;    //!< smallest micro-batch worth running on a worker
  double max_local = 64;   //!< largest micro-batch that fits on a worker
  bool adaptive = false;   //!< may change the global batch (else M = M0 always)
};

//! Gradient noise at the initial batch (see above); both 0: unknown, batch
//! size then buys nothing (gain 1) as a conservative default.
struct GradientNoise {
  double sqr = 0;
  double var = 0;
  bool known() const { return sqr > 0 || var > 0; }
  friend bool operator==(const GradientNoise&, const GradientNoise&) = default;
};

//! Gradient noise from one worker's step. `local_sqr` is |g_i|^2 of its own
//! mean gradient over `local_batch` samples, `global_sqr` |g|^2 of the reduced
//! one over `global_batch` (both best smoothed over steps). Since
//! E|g_i|^2 = |G|^2 + tr(Sigma) / b and E|g|^2 = |G|^2 + tr(Sigma) / B,
//! tr(Sigma) = (|g_i|^2 - |g|^2) / (1/b - 1/B) and |G|^2 = |g|^2 - tr(Sigma) / B;
//! var is tr(Sigma) / init_batch. Unknown (both 0) when b >= B or an input
//! is not a finite number above 0 (sizes) or at least 0 (norms).
GradientNoise EstimateNoise(double local_sqr, double global_sqr, double local_batch, double global_batch,
                            double init_batch);

//! How the noise a job measured carries to other batches: measured at global
//! batch `at_batch`, at batch M the variance is var (M / at_batch)^exponent. In Pollux's traces the gradient noise scale (var / sqr) of a run
//! at a larger batch is larger at the same progress (CIFAR-10 at epoch 30:
//! 21 at batch 128, 61 at 2048; BERT's grows about as fast as the batch), so
//! a job measuring at a small batch would underrate larger ones. Exponent 0
//! (or no at_batch): the noise is the same at every batch, as Pollux assumes.
struct NoiseScaling {
  double at_batch = 0;
  double exponent = 0;
};

//! (var + sqr) / (var / s + sqr) with s = batch / init_batch: steps at
//! init_batch that one step at `batch` is worth, var scaled to `batch` by
//! `scaling`. 1 when the noise is unknown.
double BatchGain(const GradientNoise& noise, double init_batch, double batch, const NoiseScaling& scaling = {});

//! Fits NoiseScaling::exponent from gradient noise measured at different
//! batches: log(var / sqr) = level(epoch) + exponent log(batch). Each epoch's
//! own level is taken out (the noise drifts by orders of magnitude over
//! training), so only measurements at two batches or more within one epoch
//! count: one job's after a resize that changed its batch, or several jobs'
//! of one kind. The latest measurement per (epoch, batch) is kept, for the
//! most recent kMaxEpochs epochs and kMaxBatches batches per epoch.
class NoiseGrowthFit {
 public:
  //! Ignored unless batch > 0 and both of noise's parts are finite and above 0.
  void Observe(int64_t epoch, double batch, const GradientNoise& noise);
  //! The least-squares slope, clamped to [0, 1] (at 1 a larger batch's gain
  //! is already its whole size ratio); 0 until some epoch has two batches.
  double Exponent() const;

  static constexpr size_t kMaxEpochs = 256;
  static constexpr size_t kMaxBatches = 16;

 private:
  std::map<int64_t, std::map<int64_t, double>> by_epoch_;  // epoch -> batch -> log(var / sqr)
  mutable double exponent_ = 0;
  mutable bool dirty_ = false;
};

struct BatchChoice {
  int replicas = 0;
  double local_batch = 0;   //!< per micro-step, per replica
  int accum_steps = 0;      //!< micro-steps beyond the first, per optimizer step
  double global_batch = 0;  //!< replicas * local_batch * (accum_steps + 1)
  double step_time = 0;     //!< seconds per optimizer step
  double samples_per_s = 0;
  double goodput = 0;       //!< init-batch steps of progress per second
  bool feasible = false;    //!< false: no geometry within the limits
};

//! Measured over fitted compute time, by local batch: the ratio measured at
//! each local batch, interpolated in log m between them, flat beyond. Empty:
//! 1 everywhere.
class ComputeCorrection {
 public:
  //! `ratios`: (local batch, measured / fitted compute time), any order;
  //! entries that are not finite numbers above 0 are left out.
  explicit ComputeCorrection(const std::vector<std::pair<double, double>>& ratios = {});
  double At(double local_batch) const;
  //! The local batches measured, ascending.
  std::vector<double> batches() const;
  bool empty() const { return points_.empty(); }

 private:
  struct Point {
    double log_m, log_ratio, m;
    bool operator<(const Point& o) const { return log_m < o.log_m; }
  };
  std::vector<Point> points_;  // ascending m
};

//! The geometry of `replicas` over `nodes` nodes with the best goodput under
//! `limits`. Local batches are tried on a grid (integers up to 64, then steps
//! of about 3%), accumulation up to 64 micro-steps. Compute time is the fit's
//! times `correction`; synchronisation is `measured_sync` seconds when that
//! is at least 0, else the fit's at `sync_replicas` (0: `replicas`); the
//! noise carries to each batch by `scaling`.
BatchChoice BestBatch(const ThroughputParams& params, const GradientNoise& noise, const BatchLimits& limits,
                      int nodes, int replicas, const ComputeCorrection& correction = ComputeCorrection(),
                      int sync_replicas = 0, const NoiseScaling& scaling = {}, double measured_sync = -1);

//! The learner. Observe steps and noise as they come; Profile() refits when
//! something new was seen.
class GoodputModel {
 public:
  //! `prior` with `learned_prior`: an earlier job's fit (PriorBook), which
  //! fills in what this job's points leave open. Otherwise a generic starting
  //! point, and what the points leave open is guessed optimistically.
  explicit GoodputModel(BatchLimits limits, ThroughputParams prior = {}, bool learned_prior = false);

  //! A measured step (ignored unless its numbers are positive). Steps of one
  //! (nodes, replicas, local batch) are averaged; at most kMaxPoints such
  //! points are kept (the oldest go first).
  void Observe(const StepObservation& step);
  //! The latest gradient noise at the initial batch; it replaces the last
  //! (the runtime smooths over steps; noise moves by orders of magnitude
  //! between early and late epochs, so the model must not lag).
  //! `at_batch`: the global batch it was measured at (0: unknown); with
  //! `epoch` too, it also feeds the model's own NoiseGrowthFit.
  void ObserveNoise(const GradientNoise& noise, double at_batch = 0, std::optional<int64_t> epoch = {});
  //! How the noise grows with the batch, fitted elsewhere (PriorBook: over
  //! the jobs of a kind); replaces the model's own fit. nullopt: back to it.
  void SetNoiseGrowth(std::optional<double> exponent);

  //! The fitted parameters (refitted if a new point came in since).
  const ThroughputParams& Params();
  //! speedup[k] for k = 0..max_workers: the goodput of k replicas on nodes of
  //! `gpus_per_node` (filled in order) over that of one; [0] = 0. Empty
  //! (unknown: the scheduler assumes linear) until a step was observed,
  //! unless the prior is learned: then the prior's, with batches worth nothing
  //! more until the job's gradient noise is known.
  std::vector<double> Profile(int max_workers, int gpus_per_node);
  //! The best geometry at (nodes, replicas) by the current fit.
  BatchChoice Best(int nodes, int replicas);

  //! The most replicas of a point kept.
  int MaxReplicasSeen() const;
  //! Seconds of synchronisation measured on `nodes` nodes with `replicas`
  //! (the mean over the local batches run there); nullopt where the job has
  //! not run with more than one replica.
  std::optional<double> MeasuredSync(int nodes, int replicas);
  //! Whether the fit rests on enough to start another job of its kind from:
  //! 4 points or more, synchronisation seen at two replica counts or more.
  bool Informative() const;
  bool learned_prior() const { return learned_prior_; }
  //! Distinct (nodes, replicas, local batch) points observed.
  size_t points() const { return points_.size(); }
  //! Observations behind the points kept.
  int64_t steps() const;
  const BatchLimits& limits() const { return limits_; }
  const GradientNoise& noise() const { return noise_; }
  //! How noise() carries to other batches (BatchGain).
  NoiseScaling noise_scaling() const;

  //! The averaged points, for storing: Restore() takes them back.
  std::vector<std::pair<StepObservation, int64_t>> Points() const;
  //! (The noise's growth with the batch is not kept: it is fitted again from
  //! the measurements that come after.)
  void Restore(const std::vector<std::pair<StepObservation, int64_t>>& points, const GradientNoise& noise,
               double noise_batch = 0);

  static constexpr size_t kMaxPoints = 64;

 private:
  using Key = std::tuple<int, int, int64_t>;  // nodes, replicas, local batch in 1/16ths
  struct Point {
    StepObservation mean;
    int64_t count = 0;
    int64_t seq = 0;  //!< when last seen, for eviction
  };
  void Refit();
  static Key KeyOf(const StepObservation& o);

  BatchLimits limits_;
  ThroughputParams prior_;
  bool learned_prior_ = false;
  //! The last fit as found (where the next search starts) and as used, with
  //! what no point determines set optimistically (see above); valid unless dirty_.
  ThroughputParams raw_, fit_;
  ComputeCorrection correction_;  //!< of fit_, by the points' compute times
  //! The most replicas seen syncing within one node and across nodes (0: none).
  int local_sync_max_ = 0, node_sync_max_ = 0;
  //! Sync measured by (nodes, replicas), valid unless dirty_.
  std::map<std::pair<int, int>, double> measured_sync_;
  bool dirty_ = true;
  std::map<Key, Point> points_;
  GradientNoise noise_;
  double noise_batch_ = 0;                    //!< the global batch noise_ was measured at
  NoiseGrowthFit growth_;                     //!< from this job's own measurements
  std::optional<double> growth_from_kind_;    //!< SetNoiseGrowth
  int64_t seq_ = 0;
  //! The last Profile() and its arguments, and Best() by (nodes, replicas):
  //! asked every scheduling cycle, they change only with the fit or the
  //! noise (Invalidate).
  std::vector<double> profile_;
  std::pair<int, int> profile_key_;
  bool profile_valid_ = false;
  std::map<std::pair<int, int>, BatchChoice> best_;
  void Invalidate() {
    profile_valid_ = false;
    best_.clear();
  }
};

//! The fits of jobs that have run, by kind, for the next job of that kind to
//! start from. A job's throughput is a property of its model and code, not of
//! its run: a new run of the same thing need not rediscover it from one GPU.
//! In the simulator this lowered mean JCT on the Pollux workloads 1-4 by about
//! 3% (jobs of an application learn from earlier ones of the same workload
//! only). A plain value; not synchronised.
class PriorBook {
 public:
  //! Keeps `model`'s fit for `kind` if the model is Informative(): the latest
  //! such fit of a kind wins.
  void Offer(const std::string& kind, GoodputModel& model);
  //! The fit kept for `kind`; null when none.
  const ThroughputParams* Find(const std::string& kind) const;
  //! Gradient noise a job of `kind` measured at global `batch` in `epoch`:
  //! pooled over the kind's jobs, it fits how the noise grows with the batch
  //! (NoiseGrowthFit), which one job's steps rarely show. In the simulator
  //! this lowered mean JCT on the Pollux workloads 1-4 by about 1%.
  void ObserveNoise(const std::string& kind, int64_t epoch, double batch, const GradientNoise& noise);
  //! The exponent fitted for `kind` (0 when nothing shows it).
  double NoiseGrowth(const std::string& kind) const;

 private:
  std::map<std::string, ThroughputParams> by_kind_;
  std::map<std::string, NoiseGrowthFit> growth_;
};

}  // namespace drover::sched

// Application: one Pollux workload (bert, cifar10, ncf, imagenet, deepspeech2, yolov3) as the
// reference simulator (petuum/adaptdl, branch osdi21-artifact, simulator/applications.py) models
// it, read from its trace directory:
//   placements.csv      placement,local_bsz,step_time,sync_time      measured step times
//   scalability.csv     num_nodes,num_replicas,local_bsz,step_time,sync_time   larger clusters
//   validation-<B>.csv  progress,...,grad_sqr,grad_var (one row per epoch)  training at batch B
// See shared/design/SIMULATOR-MODEL.md for the model; this class answers, per placement, batch
// geometry and epoch: how long a step takes, how much statistical progress it makes, and which
// batch geometry an elastic (Pollux-like) scheduler would choose.
//
// Where the reference would fail (raise or assert), this class answers with a documented value:
//  - Throughput of a placement present in placements.csv at a local_bsz outside its measured
//    rows: the nearest end row (clamped), not interp1d's error.
//  - Throughput of any other placement at a point outside the convex hull of the data: the
//    value at the nearest point of the hull, not scipy's NaN. MeasuredThroughput() reports
//    both cases as NotFound instead.
//  - GradStats for a batch size outside the validated ones: the nearest validated batch size.
//  - Progress/GradStats for epochs beyond the validation rows: the last row.
//  - An empty placement has step_time = +inf (zero goodput).
//
// Thread safety: Application is a move-only value. All const methods may be called
// concurrently: results are memoised in caches guarded by a mutex, and the Delaunay
// triangulation is built once, lazily, under std::call_once. Moving an Application while
// another thread uses it is a race, as for any value.
//
// Errors: Load and LoadBundled return NotFound for a missing directory or file and
// InvalidArgument for malformed CSV (naming file and line) or inconsistent settings.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace drover::sim {

//! GPUs per node of the compact placements the profiles assume (CompactSpeedups).
inline constexpr int kGpusPerNode = 4;

//! Settings that replace what would otherwise be derived from the traces.
struct AppOverrides {
  std::optional<int> init_batch_size;
  std::optional<int> max_batch_size;
  std::optional<int> min_local_bsz;
  std::optional<int> max_local_bsz;
  std::optional<int> max_epochs;
};

struct StepTimes {
  double step_time = 0;  //!< seconds per step of one micro-batch, synchronisation included
  double sync_time = 0;  //!< seconds of that spent in gradient synchronisation
};

struct GradientStats {
  double grad_sqr = 0;
  double grad_var = 0;
};

//! How a job splits its global batch: num_replicas * atomic_bsz * (accum_steps + 1).
struct Geometry {
  int num_replicas = 0;
  int atomic_bsz = 0;
  int accum_steps = 0;
  //! False when no geometry satisfies the limits (num_replicas * min_local_bsz exceeds
  //! max_batch_size); the geometry is then the smallest one, over the limit.
  bool feasible = true;
  int batch_size() const { return num_replicas * atomic_bsz * (accum_steps + 1); }
};

//! A placement reduced to what the model distinguishes. Placements absent from
//! placements.csv are interpolated from (min(num_nodes, 16), num_replicas) alone, so they
//! share one memo_id per such pair.
struct PlacementKey {
  PlacementKey() = default;  // not an aggregate, so a braced placement never converts to it
  int64_t id = 0;            //!< smallest rotation read as digits (244 for 4,4,2); -1 if unreadable
  int num_nodes = 0;         //!< nodes with at least one GPU
  int num_replicas = 0;      //!< GPUs in all
  bool in_trace = false;     //!< `id` is a placement of placements.csv
  int64_t memo_id = 0;       //!< id if in_trace, else -(min(num_nodes,16) * 1'000'000 + replicas)
};

class Application {
 public:
  static Result<Application> Load(const std::string& trace_dir, const AppOverrides& overrides = {});
  //! The six applications of the reference with its overrides (bert 2 epochs, cifar10 100,
  //! ncf 10, imagenet 90, deepspeech2 80, yolov3 50 with max_local_bsz 8), keyed by name.
  static Result<std::map<std::string, Application>> LoadBundled(const std::string& traces_dir);

  Application(Application&&) noexcept;
  Application& operator=(Application&&) noexcept;
  ~Application();

  const std::string& name() const { return name_; }
  int init_batch_size() const { return init_batch_size_; }
  int max_batch_size() const { return max_batch_size_; }
  int min_local_bsz() const { return min_local_bsz_; }
  int max_local_bsz() const { return max_local_bsz_; }
  int max_epochs() const { return max_epochs_; }
  //! Validated global batch sizes, ascending.
  const std::vector<int>& validated_batch_sizes() const { return validated_bsz_; }

  PlacementKey Normalize(const std::vector<int>& placement) const;

  //! Step and sync time of one micro-batch of `atomic_bsz` per GPU on `placement` (GPUs per
  //! node; zeros ignored, order only matters up to rotation). Memoised per (placement, bsz).
  StepTimes Throughput(const std::vector<int>& placement, double atomic_bsz) const;
  StepTimes Throughput(const PlacementKey& key, double atomic_bsz) const;
  //! As Throughput, but NotFound where the reference would fail (outside the measured data).
  Result<StepTimes> MeasuredThroughput(const std::vector<int>& placement, double atomic_bsz) const;

  //! Progress needed to finish `epoch` epochs: 0 for epoch 0, else the minimum over the
  //! validation files of row epoch-1's progress.
  double Progress(int epoch) const;
  //! Gradient statistics during `epoch` at `batch_size`, linearly interpolated between the
  //! validated batch sizes that bracket it.
  GradientStats GradStats(double batch_size, int epoch) const;
  //! The epoch after which a job is complete (there is no target metric): max_epochs - 1.
  int CompletionEpoch() const { return max_epochs_ - 1; }

  //! The reference's batch geometry of a job fixed at `batch_size` on `num_replicas` GPUs.
  Geometry RigidGeometry(int num_replicas, int batch_size) const;
  //! The geometry that maximises Goodput on `placement` at `epoch`: atomic_bsz in
  //! [min_local_bsz, max_local_bsz], accum_steps >= 0, batch in [init_batch_size,
  //! max_batch_size]. Only atomic sizes inside the measured throughput data are considered
  //! unless there are none. Ties go to fewer accumulation steps, then the smaller atomic_bsz.
  //! Memoised per (placement, epoch).
  Geometry OptimalGeometry(const std::vector<int>& placement, int epoch) const;
  Geometry OptimalGeometry(const PlacementKey& key, int epoch) const;
  //! Goodput at OptimalGeometry (0 if infeasible), memoised with it.
  double OptimalGoodput(const PlacementKey& key, int epoch) const;
  //! For k = 0..max_workers: OptimalGoodput on the compact placement of k GPUs (nodes of 4:
  //! 4,4,..,rest) at `epoch`, over the same on 1 GPU. Entry 0 is 0, and so is any k without a
  //! feasible geometry. Memoised per (epoch, k).
  std::vector<double> CompactSpeedups(int epoch, int max_workers) const;

  //! Progress per second: gain / (step_time + (step_time - sync_time) * accum_steps), with
  //! gain = (var + sqr) / (var / scale + sqr), scale = batch / init_batch_size. The replica
  //! count is the placement's.
  double Goodput(const std::vector<int>& placement, const Geometry& geometry, int epoch) const;
  double Goodput(const PlacementKey& key, const Geometry& geometry, int epoch) const;

 private:
  struct Validation {
    int batch_size = 0;
    std::vector<double> progress, grad_sqr, grad_var;
  };
  struct PlacementRows {
    std::vector<double> local_bsz, step_time, sync_time;  // ascending local_bsz
  };
  struct Caches;
  struct OptimalChoice {
    Geometry geometry;
    double goodput = 0;
  };

  Application();
  // Throughput without memo; `measured` receives whether the point lies inside the data.
  // Outside the data: the nearest-hull fallback, or NaN times when !fallback.
  StepTimes ComputeThroughput(const PlacementKey& key, double atomic_bsz, bool* measured,
                              bool fallback = true) const;
  Status EnsureInterpolator() const;
  OptimalChoice ComputeOptimal(const PlacementKey& key, int epoch) const;
  OptimalChoice Optimal(const PlacementKey& key, int epoch) const;

  std::string name_;
  int init_batch_size_ = 0;
  int max_batch_size_ = 0;
  int min_local_bsz_ = 0;
  int max_local_bsz_ = 0;
  int max_epochs_ = 0;
  std::vector<Validation> validation_;  // ascending batch size
  std::vector<int> validated_bsz_;
  std::map<int64_t, PlacementRows> placements_;
  // Delaunay input, in the reference's order: placements.csv grouped by
  // (num_nodes, num_replicas, local_bsz) and averaged, then scalability.csv in file order.
  std::vector<std::array<double, 3>> nd_points_;
  std::vector<double> nd_values_;  // step_time, sync_time per point
  std::unique_ptr<Caches> caches_;
};

}  // namespace drover::sim

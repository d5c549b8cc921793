// SimJob: one training job of the Pollux simulator, advancing through its epochs as the
// reference simulator's `Job` (petuum/adaptdl osdi21-artifact, simulator/simulator.py) does,
// without that class's fitting of Pollux's performance model.
//
// A job is rigid when it has a target batch size (the reference's Tiresias/Optimus jobs): on
// any placement it uses Application::RigidGeometry of that batch. Otherwise it is elastic and,
// like a Pollux job given the true model, runs at Application::OptimalGeometry of its placement
// and epoch (the reference instead optimises a model fitted to the throughputs it has seen).
//
// Clock: like the reference, a job keeps its own current_time, starting at 0, and the caller
// steps every job, submitted or not, by the same amounts (a job without GPUs just lets time
// pass). Every Reallocate to a non-empty placement restarts the job: a 30 s pause during which
// it holds its GPUs (and accrues attained service) without progress. The caller decides what
// counts as a change; the reference calls reallocate only when a job's allocation changed.
//
// Thread safety: a plain value; not synchronised. It points at its Application, which must
// outlive it; Application's const methods are thread-safe, so jobs of one application may be
// stepped from different threads.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "sim/application.h"

namespace drover::sim {

class SimJob {
 public:
  //! Seconds of no progress after every (re)start on a new placement.
  static constexpr double kRescaleSeconds = 30.0;

  //! A job with a fixed global batch size, asking for `target_num_replicas` GPUs.
  static SimJob Rigid(std::string name, const Application* app, double submission_time,
                      int target_num_replicas, int target_batch_size);
  //! A job whose batch geometry follows Application::OptimalGeometry.
  static SimJob Elastic(std::string name, const Application* app, double submission_time);

  SimJob(std::string name, const Application* app, double submission_time,
         std::optional<int> target_num_replicas, std::optional<int> target_batch_size);

  //! Replaces, for an elastic job, Application::OptimalGeometry (the truth)
  //! with the caller's choice: what a job that learns its own model picks.
  using GeometryChooser = std::function<Geometry(const PlacementKey& key, int epoch)>;
  void SetGeometryChooser(GeometryChooser chooser) { chooser_ = std::move(chooser); }

  //! Moves the job to `placement` (GPUs per node; an empty or all-zero one takes its GPUs
  //! away). A non-empty placement sets the geometry, starts the 30 s rescale pause and counts a
  //! restart (the first start is restart 0).
  void Reallocate(const std::vector<int>& placement);

  //! Advances the job by `seconds` of simulated time: rescale pause first, then progress at the
  //! goodput of its geometry (times 1 - interference), crossing epochs (each crossing's time
  //! rounded to whole seconds, half to even) and re-choosing the geometry after each, until the
  //! time is used or the job completes.
  void Step(double seconds, double interference = 0.0);

  //! For k = 0..max_workers: goodput at the current epoch on a compact placement of k GPUs
  //! (nodes of 4: 4,4,..,rest) at OptimalGeometry, divided by the same on 1 GPU. Entry 0 is 0,
  //! and so is an entry whose k has no feasible geometry. Application::CompactSpeedups at the
  //! current epoch, memoised per (application, epoch, k).
  std::vector<double> SpeedupProfile(int max_workers) const;

  const std::string& name() const { return name_; }
  const Application& application() const { return *app_; }
  double submission_time() const { return submission_time_; }
  std::optional<int> target_num_replicas() const { return target_num_replicas_; }
  std::optional<int> target_batch_size() const { return target_batch_size_; }
  bool elastic() const { return !target_batch_size_.has_value(); }

  double current_time() const { return current_time_; }
  std::optional<double> completion_time() const { return completion_time_; }
  bool completed() const { return completion_time_.has_value(); }
  int epoch() const { return epoch_; }
  double progress() const { return progress_; }
  //! GPU-seconds held so far, rescale pauses included.
  double attained_service() const { return attained_service_; }
  double rescale_time() const { return rescale_time_; }
  const std::vector<int>& placement() const { return placement_; }
  int num_replicas() const { return key_.num_replicas; }
  const Geometry& geometry() const { return geometry_; }
  int atomic_bsz() const { return geometry_.atomic_bsz; }
  int accum_steps() const { return geometry_.accum_steps; }
  //! atomic_bsz * (accum_steps + 1) * GPUs; 0 without a placement.
  int batch_size() const {
    return geometry_.atomic_bsz * (geometry_.accum_steps + 1) * key_.num_replicas;
  }
  //! Restarts so far; empty until the first start.
  std::optional<int> num_restarts() const { return num_restarts_; }

 private:
  void UpdateGeometry();

  std::string name_;
  const Application* app_ = nullptr;
  double submission_time_ = 0;
  std::optional<int> target_num_replicas_;
  std::optional<int> target_batch_size_;

  double current_time_ = 0;
  double rescale_time_ = 0;
  std::optional<double> completion_time_;
  std::vector<int> placement_;
  PlacementKey key_;
  Geometry geometry_;
  double progress_ = 0;
  int epoch_ = 0;
  double attained_service_ = 0;
  std::optional<int> num_restarts_;
  GeometryChooser chooser_;
};

}  // namespace drover::sim

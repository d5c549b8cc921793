#include "sim/sim_job.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace drover::sim {

SimJob SimJob::Rigid(std::string name, const Application* app, double submission_time,
                     int target_num_replicas, int target_batch_size) {
  return SimJob(std::move(name), app, submission_time, target_num_replicas, target_batch_size);
}

SimJob SimJob::Elastic(std::string name, const Application* app, double submission_time) {
  return SimJob(std::move(name), app, submission_time, std::nullopt, std::nullopt);
}

SimJob::SimJob(std::string name, const Application* app, double submission_time,
               std::optional<int> target_num_replicas, std::optional<int> target_batch_size)
    : name_(std::move(name)),
      app_(app),
      submission_time_(submission_time),
      target_num_replicas_(target_num_replicas),
      target_batch_size_(target_batch_size) {}

void SimJob::UpdateGeometry() {
  if (target_batch_size_) {
    geometry_ = app_->RigidGeometry(key_.num_replicas, *target_batch_size_);
  } else if (chooser_ && key_.num_replicas > 0) {
    geometry_ = chooser_(key_, epoch_);
  } else {
    geometry_ = app_->OptimalGeometry(key_, epoch_);
  }
}

void SimJob::Reallocate(const std::vector<int>& placement) {
  const PlacementKey key = app_->Normalize(placement);
  if (key.num_replicas > 0) {
    placement_ = placement;
    key_ = key;
    UpdateGeometry();
    rescale_time_ = kRescaleSeconds;
    num_restarts_ = num_restarts_ ? *num_restarts_ + 1 : 0;
  } else {
    // The reference forgets the atomic size but keeps accum_steps; neither is used unplaced.
    placement_.clear();
    key_ = PlacementKey{};
    geometry_.atomic_bsz = 0;
    geometry_.num_replicas = 0;
  }
}

void SimJob::Step(double seconds, double interference) {
  if (placement_.empty()) {
    current_time_ += seconds;
    return;
  }
  const double gpus = key_.num_replicas;
  const double delay = std::min(rescale_time_, seconds);
  current_time_ += delay;
  attained_service_ += delay * gpus;
  rescale_time_ -= delay;
  seconds -= delay;
  while (seconds > 0 && !completion_time_) {
    const double goodput = app_->Goodput(key_, geometry_, epoch_) * (1.0 - interference);
    const double next_progress = app_->Progress(epoch_ + 1);
    if (!(goodput > 0)) {
      // No progress possible (e.g. an infeasible geometry); the reference would divide by zero.
      current_time_ += seconds;
      attained_service_ += seconds * gpus;
      seconds = 0;
    } else if (progress_ + goodput * seconds < next_progress) {
      // The interval ends inside this epoch.
      progress_ += goodput * seconds;
      current_time_ += seconds;
      attained_service_ += seconds * gpus;
      seconds = 0;
    } else {
      ++epoch_;
      // Python's round(): half to even, as nearbyint in the default rounding mode.
      const double delta = std::nearbyint((next_progress - progress_) / goodput);
      if (epoch_ > app_->CompletionEpoch()) completion_time_ = current_time_ + delta;
      progress_ = next_progress;
      current_time_ += delta;
      attained_service_ += delta * gpus;
      seconds -= delta;
    }
    UpdateGeometry();
  }
  current_time_ += seconds;
}

std::vector<double> SimJob::SpeedupProfile(int max_workers) const {
  return app_->CompactSpeedups(std::min(epoch_, app_->CompletionEpoch()), max_workers);
}

}  // namespace drover::sim

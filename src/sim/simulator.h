// The trace-driven cluster simulator: runs a scheduling policy from sched/
// against modelled jobs, in rounds, as the Pollux reference simulator does
// (SIMULATOR-MODEL.md):
//   every round, each job advances by the round's length on the placement it
//   holds; then the policy sees the jobs submitted so far and not finished,
//   and its decisions are applied (each change pauses the job, in the model).
// Unless SimOptions::reaction is 0, the policy also decides between round
// ends at each submission and shortly after each completion, as drover's
// server does; the reference decides at round ends only, so a job submitted
// just after one waits most of a round, and a finished job's GPUs idle.
// Pure: no clock, no files; the caller loads traces and writes reports.
// Not thread-safe; independent runs may go on in parallel threads.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/consumer_tree.h"
#include "common/job.h"
#include "sched/policy.h"
#include "sim/sim_result.h"

namespace drover::sim {

//! One modelled job's progress. Implementations: the Pollux application
//! model (pollux_workload.h) and fixed-duration Philly jobs (philly.h).
class ModelJob {
 public:
  virtual ~ModelJob() = default;
  //! Sets the GPUs per node the job holds from `now` on (empty: none). Called only on change.
  virtual void Reallocate(double now, const std::vector<int>& gpus_per_node) = 0;
  //! Advances `seconds` of simulated time from `now` on the current placement.
  virtual void Step(double now, double seconds) = 0;
  virtual bool finished() const = 0;
  virtual double completion_time() const = 0;
  virtual double attained_service() const = 0;  //!< GPU-seconds held so far
  virtual int restarts() const = 0;
  //! Throughput profile for the scheduler (sched::JobState::speedup); empty if unknown.
  virtual std::vector<double> Speedup(int max_workers) const { return {}; }
  //! Seconds it would still run on one GPU, by what it knows (sched::JobState::remaining_work); 0 if unknown.
  virtual double RemainingWork() const { return 0; }
};

struct SimJobSpec {
  std::string name;
  std::string kind;          //!< application or "philly"
  int consumer = 0;          //!< index into the run's consumer tree
  double submit = 0;
  WorkerBounds workers;      //!< GPUs (1 per worker); rigid when min == max
  bool use_profile = false;  //!< pass ModelJob::Speedup and RemainingWork to the scheduler
  double resize_pause = 0;   //!< seconds a placement change stops it (sched::JobState)
  std::unique_ptr<ModelJob> model;
};

struct SimOptions {
  int nodes = 16;
  int gpus_per_node = 4;
  double round = 60;
  //! The policy also decides at every submission, and at every completion
  //! at most `reaction` seconds after it, as drover's server schedules on
  //! each such event (it notices a job's end within a second or so; 5 s is
  //! the conservative side). 0: at the end of each round only, as the
  //! reference simulator does.
  double reaction = 5;
  double max_time = 90 * 86400.0;  //!< stop even if jobs remain
  double start_time = 0;           //!< first round ends at start_time + round
  bool fairness = false;           //!< account owed GPU-seconds per consumer
  //! Called about every `progress_every` simulated seconds (for a progress line).
  std::function<void(double now, int finished, int total)> progress;
  double progress_every = 3600;
};

SimResult Simulate(std::vector<SimJobSpec> jobs, const ConsumerTree& consumers, sched::Policy& policy,
                   const SimOptions& options);

}  // namespace drover::sim

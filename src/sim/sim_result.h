// What a simulation run produces: per-job outcomes, summary figures, and a
// timeline of GPUs held per consumer, for tables, JSON and the HTML report.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace drover::sim {

struct JobOutcome {
  std::string name;
  std::string kind;      //!< application, or "philly"
  std::string consumer;  //!< consumer path
  double submit = 0;
  double completion = -1;  //!< -1: did not finish within the run
  int restarts = 0;        //!< placement changes after the first start
  double gpu_seconds = 0;
  double jct() const { return completion - submit; }
  bool finished() const { return completion >= 0; }
};

//! Fairness of one consumer over a run (Philly mode).
struct ConsumerFairness {
  std::string consumer;
  int64_t owned = 0;
  int jobs = 0;
  int finished = 0;
  double mean_jct = 0;
  //! GPU-seconds it was owed (min(demand, owned) minus what it held, counted
  //! only while a pending job of it would fit in the gap) after its reclaim
  //! grace had passed while another consumer held more than it owned.
  double owed_gpu_seconds = 0;
  double gpu_seconds = 0;  //!< GPU-seconds it received
};

struct TimelineSample {
  double time = 0;
  std::vector<int> gpus;  //!< per consumer, indexed like SimResult::consumers
};

struct SimResult {
  std::string policy;
  std::string workload;
  int cluster_gpus = 0;
  std::vector<JobOutcome> jobs;
  std::vector<std::string> consumers;
  std::vector<TimelineSample> timeline;
  std::vector<ConsumerFairness> fairness;  //!< empty outside Philly mode

  double mean_jct = 0, p50_jct = 0, p99_jct = 0;
  double makespan = 0;         //!< last completion minus first submission
  double utilization = 0;      //!< GPU-seconds held by finished jobs / (GPUs x makespan)
  int64_t placement_changes = 0;
  int unfinished = 0;
  double wall_seconds = 0;     //!< how long the simulation itself took
  double decide_p50_ms = 0, decide_p95_ms = 0;  //!< scheduler time per round

  //! Fills the summary figures from `jobs`.
  void Summarize();
};

void to_json(nlohmann::json& j, const SimResult& r);

//! Value at quantile q in [0,1] of `v` (nearest rank; 0 for empty input).
double Quantile(std::vector<double> v, double q);

}  // namespace drover::sim

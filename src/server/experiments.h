// Experiments in the server: their records, their trials' metrics, and the
// adapter that runs each experiment's pure controller (hpo/controller.h) and
// applies its actions through the cluster model — trials are ordinary jobs of
// the experiment's consumer, so the plan's fair share, priorities and
// reclaim apply to them as to any job.
//
// Metrics: a job's reports, each a JSON object of numbers, from
// `drover-metric {...}` lines its rank 0 prints (MetricLines scans the
// output as it arrives) or POSTed with its token. A trial's curve is its
// reports that carry the experiment's metric, at the resource they name
// (the resource's name, "epoch" or "step"; else the report's number).
//
// Thread safety: none; the server calls it under its mutex. State changes are
// recorded in the caller's WriteBatch, as ClusterModel's are; after a failed
// commit the server reloads it from the store.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/states.h"
#include "common/job.h"
#include "common/status.h"
#include "hpo/controller.h"
#include "spec/experiment_parser.h"
#include "store/store.h"

namespace drover::server {

//! What a metric line or POST may carry: at most this many numbers.
inline constexpr size_t kMaxMetricValues = 64;
//! Reports kept per job; more are refused (a trial reporting every step should report less often).
inline constexpr size_t kMaxMetricsPerJob = 10000;

//! The numbers of a metrics report: a JSON object of finite numbers (at most
//! kMaxMetricValues, names at most 64 characters). kInvalidArgument naming
//! the first bad field.
Result<nlohmann::json> ParseMetricValues(const std::string& text);

//! A `drover-metric {...}` line found in output: the JSON after the prefix,
//! and the offset just past the line's newline.
struct MetricLine {
  std::string json;
  int64_t end = 0;
};
//! The complete metric lines of `data`, which sits at `offset` in a job's
//! output; `prefix` is the output's bytes before it since the last newline
//! (the start of a line `data` finishes).
std::vector<MetricLine> MetricLines(const std::string& prefix, const std::string& data, int64_t offset);

class ExperimentBook {
 public:
  struct Experiment {
    store::ExperimentRecord rec;
    ExperimentSpec spec;
    std::unique_ptr<hpo::Controller> controller;
  };

  //! Replaces everything with the snapshot's experiments and metrics.
  //! kInternal when a stored experiment no longer parses.
  Status Load(const store::Snapshot& snap);

  //! Makes experiment `rec` (its id set here) of `spec`, running; records it in `batch`.
  Result<int64_t> Create(store::ExperimentRecord rec, ExperimentSpec spec, store::WriteBatch* batch);
  const Experiment* Find(int64_t id) const;
  const std::map<int64_t, Experiment>& all() const { return experiments_; }
  //! How many experiments of `user` are running.
  int Running(const std::string& user) const;

  //! Records a report of `job` (`log_end`: where its line ends in rank 0's
  //! output; 0 if POSTed). kResourceExhausted past kMaxMetricsPerJob.
  Status AddMetric(JobId job, nlohmann::json values, int64_t log_end, double now, store::WriteBatch* batch);
  //! How far rank 0's output of `job` has been scanned for metric lines, durably.
  int64_t ScannedTo(JobId job) const;
  //! A stored report and its values, parsed once.
  struct Report {
    store::MetricRecord rec;
    nlohmann::json values;
  };
  //! `job`'s reports, oldest first (null if none).
  const std::vector<Report>* Metrics(JobId job) const;
  //! Trial `job`'s curve in experiment `e`: (resource, value of e's metric).
  std::vector<std::pair<double, double>> Curve(const Experiment& e, JobId job) const;
  //! The trial of `e` with the best last reported value; none before any report.
  std::optional<int> Best(const Experiment& e) const { return e.controller->Best(Views(e)); }

  //! How the book reaches the rest of the server.
  struct Hooks {
    //! The state and reason of a job; nullopt if it does not exist.
    std::function<std::optional<std::pair<api::JobState, std::string>>(JobId)> job_state;
    //! Submits a trial's job for experiment `e`.
    std::function<Result<JobId>(const Experiment& e, const ParsedJob& job, const std::string& yaml,
                                store::WriteBatch* batch)>
        submit;
    //! Cancels a trial's job, saying why.
    std::function<void(JobId job, const std::string& why, store::WriteBatch* batch)> cancel;
    //! Sets a running trial's job priority (a trial that passed a rung ranks above its peers, so it grows first).
    std::function<void(JobId job, int priority, store::WriteBatch* batch)> set_priority;
  };

  //! Moves every running experiment on: trials whose jobs ended are marked,
  //! the controller's actions applied. Returns how many experiments changed.
  int Advance(double now, const Hooks& hooks, store::WriteBatch* batch);

  //! Stops experiment `id` (a user's request): running trials are cancelled.
  //! kNotFound, or kFailedPrecondition when it has ended.
  Status Stop(int64_t id, const std::string& why, double now, const Hooks& hooks, store::WriteBatch* batch);

 private:
  std::vector<hpo::TrialView> Views(const Experiment& e) const;
  void Finish(Experiment& e, const std::string& state, const std::string& why, double now, const Hooks& hooks,
              store::WriteBatch* batch);

  std::map<int64_t, Experiment> experiments_;
  std::map<JobId, std::vector<Report>> reports_;
  std::map<JobId, int64_t> scanned_to_;  //!< the largest log_end of each job's reports
};

}  // namespace drover::server

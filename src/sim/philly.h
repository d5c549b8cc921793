// Philly mode: the Microsoft Philly trace (traces/philly.csv) replayed as
// rigid jobs of fixed duration, one consumer per virtual cluster, under a
// plan of owned GPUs — to measure whether every team gets what it owns.
//
// A job runs `duration` seconds of work on `num_gpus` GPUs once placed; each
// placement change pauses it `restart_pause` seconds; a preempted job keeps
// its progress (it resumes from a checkpoint). Timestamps are parsed as UTC.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/consumer_tree.h"
#include "common/status.h"
#include "sim/simulator.h"

namespace drover::sim {

struct PhillyRow {
  double submit = 0;  //!< seconds since the Unix epoch
  double duration = 0;
  int gpus = 0;
  std::string cluster;
};

//! Reads philly.csv; rows with a missing field are skipped and counted.
Result<std::vector<PhillyRow>> LoadPhillyTrace(const std::string& path, int* skipped = nullptr);

struct PhillyOptions {
  std::string start = "2017-10-02";  //!< first day replayed (UTC)
  double days = 7;                   //!< length of the submission window
  int gpus = 256;                    //!< cluster size (hosts of 8 GPUs)
  int max_job_gpus = 64;             //!< larger jobs are dropped (they could never fit)
  double reclaim_grace = 30;         //!< plan's reclaim grace for every team
  double restart_pause = 30;
  //! A plan to use instead of the generated one: each virtual cluster X in
  //! the window must have a consumer named "X" or "vc-X" somewhere in it.
  std::optional<ConsumerTree> plan;
};

struct PhillyWorkload {
  ConsumerTree plan;               //!< /philly/<vc>, owned GPUs by share of demand
  std::vector<SimJobSpec> jobs;
  double start = 0;                //!< window start, seconds since the epoch
  int dropped = 0;                 //!< jobs larger than max_job_gpus
};

//! Selects the window and builds the plan (unless one is given): each virtual
//! cluster owns GPUs in proportion to the GPU-time it submitted in the window
//! (largest remainder, summing to the cluster size), with `share` equal to its
//! owned GPUs. A given plan lacking a consumer for some cluster is an error
//! naming the clusters.
Result<PhillyWorkload> BuildPhillyWorkload(const std::vector<PhillyRow>& rows, const PhillyOptions& options);

//! "2017-10-02" or "2017-10-02 07:01:55" (UTC) to seconds since the epoch.
Result<double> ParseUtc(const std::string& text);

}  // namespace drover::sim

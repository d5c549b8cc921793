// ClusterState: everything the scheduler may look at, passed in as a value.
//
// The scheduler reads no clock, socket or file: the server and the simulator
// build a ClusterState and call Policy::Decide with it and the current time.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/consumer_tree.h"
#include "common/job.h"
#include "common/resources.h"

namespace drover::sched {

struct HostState {
  std::string name;
  Resources capacity;
  bool up = true;
  //! An up host whose contact is in doubt (it missed a sync, or its workers'
  //! peers lost them): what runs there stays, but no new worker is placed
  //! on it. Meaningless when !up.
  bool accepts_work = true;
};

//! `workers` workers of one job on host `host` (an index into ClusterState::hosts).
struct HostSlot {
  int host = 0;
  int workers = 0;
  friend bool operator==(const HostSlot&, const HostSlot&) = default;
};
using Placement = std::vector<HostSlot>;

int WorkerCount(const Placement& p);

struct JobState {
  JobId id = 0;
  int consumer = 0;  //!< index into ClusterState::consumers
  int priority = 0;  //!< larger first, inside a consumer
  WorkerBounds workers;
  Resources per_worker{1, 0, 0};
  TimePoint submit_time = 0;
  double attained_service = 0;  //!< GPU-seconds received so far
  Placement placement;          //!< empty while pending
  //! Optional throughput profile: speedup[k] is the job's rate on k workers
  //! relative to one (speedup[0] == 0). Empty when unknown; then the
  //! scheduler assumes linear scaling.
  std::vector<double> speedup;
  //! Seconds a resize stops the job (its workers regroup, or it restarts);
  //! 0 when unknown or free. A grow is held back when the job, by its profile,
  //! would not win the pause back (see ElasticPolicy).
  double resize_pause = 0;
  //! Seconds the job would still run on one worker, by its own estimate (what
  //! it has left of its declared length, at the rate its profile gives one
  //! worker); 0 when unknown. Growth favours jobs with less left (see
  //! ElasticPolicy), as shortest-remaining-first does for mean completion time.
  double remaining_work = 0;

  bool running() const { return !placement.empty(); }
  int gpus_per_worker() const { return static_cast<int>(per_worker.gpus); }
};

struct ClusterState {
  ConsumerTree consumers;
  std::vector<HostState> hosts;
  std::vector<JobState> jobs;
};

}  // namespace drover::sched

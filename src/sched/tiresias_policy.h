// TiresiasPolicy: the Tiresias baseline exactly as the Pollux reference
// simulator runs it (petuum/adaptdl, osdi21-artifact, simulator/tiresias.py),
// so drover's numbers can be compared with the published ones.
//
// Discretised two-queue LAS: a job enters queue 0 and moves to queue 1 once
// its executed time x GPUs reaches 16 GPU-hours (starvation handling off).
// Every cycle the queues are walked in order and a job runs if its GPU count
// fits in what is not yet promised this cycle — otherwise it waits, and is
// preempted if it was running. A job newly set to run takes GPUs host by
// host, always from the host with the most free GPUs (ties: lower index).
// Jobs are rigid (workers.max) and the consumer tree is ignored. Executed
// time is wall time between cycles, as in the reference.
#pragma once

#include <deque>
#include <unordered_map>
#include <vector>

#include "sched/policy.h"

namespace drover::sched {

class TiresiasPolicy final : public Policy {
 public:
  explicit TiresiasPolicy(double queue_threshold_gpu_seconds = 16 * 3600.0)
      : threshold_(queue_threshold_gpu_seconds) {}
  Decisions Decide(const ClusterState& state, TimePoint now) override;
  const char* name() const override { return "tiresias"; }

 private:
  struct Track {
    bool running = false;
    double last_check = 0;
    double executed = 0;
  };
  double threshold_;
  std::vector<JobId> queue0_, queue1_;
  std::unordered_map<JobId, Track> track_;
};

}  // namespace drover::sched

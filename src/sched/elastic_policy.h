// ElasticPolicy: drover's scheduler — hierarchical fair share, priority, and
// elastic jobs that shrink instead of dying.
//
// One cycle, in counts first, then on hosts:
//   0. Workers on hosts that went down are gone: an elastic job left with at
//      least `min` shrinks to what survives; anything else is requeued.
//   1. Entitlements: demand-capped hierarchical water-filling (fair_share.h).
//   2. Protect: every running job keeps its `min` workers, unless its consumer
//      is borrowing (above both its entitlement and its owned GPUs) while
//      another consumer has been owed GPUs for longer than that consumer's
//      `reclaim_grace`, or a higher-priority job of its own consumer waits.
//      A consumer within its owned share is therefore never preempted for
//      another. Workers above `min` are never protected: shrinking an elastic
//      job loses no work, so reclaim takes them at once.
//   3. Admit within entitlement: consumers furthest below their entitlement
//      first; inside a consumer, priority first, then the order (FIFO: submit
//      time; LAS: least attained GPU-service, as Tiresias); a job that does
//      not fit lets smaller ones behind it start (backfill).
//   4. Grow within entitlement: spare GPUs of a consumer go to its running
//      elastic jobs one worker at a time, to the job whose throughput profile
//      gains most from it (linear when unknown), measured as the rise of
//      speedup^p / p with p < 0 so that jobs holding little come first
//      (Pollux's fairness knob); a worker a job already holds
//      counts `stickiness` more, so GPUs move only for a clear gain (each move
//      pauses both jobs). A worker that gains nothing by the profile still
//      gets a GPU nobody else gains from (work-conserving), last.
//      A running job's growth is held back when its profile says the faster
//      run would not win back the resize's pause (JobState::resize_pause)
//      over the time it is likely still to run, taken, as LAS does, to be
//      the time it has run (attained service over its workers); the GPUs
//      go to others. A work-conserving grow (no gain by the profile) is held
//      only when a resize pauses the job for a second or more (a restart,
//      not an in-process regroup). In the simulator, where a resize is a
//      30 s restart, this lowered mean JCT on the Pollux workloads 1-4 by
//      about 1%.
//   5. Borrow: GPUs nobody is entitled to go to consumers that may borrow —
//      first to start pending jobs (lowest usage per share first), then to
//      grow jobs by marginal gain — within every `limit`.
//   6. Place: shrinks and preemptions free their workers (fewest-worker hosts
//      first); grows and starts are placed in admission order (host_pool.h);
//      a job that cannot be placed stays pending with the reason; free GPUs
//      left by fragmentation are backfilled with pending jobs that fit.
// Deterministic: ties break by submit time, then job id, then host index.
// Keeps one piece of memory: since when each consumer has been owed GPUs.
#pragma once

#include <string>
#include <unordered_map>

#include "sched/policy.h"

namespace drover::sched {

enum class JobOrder { kFifo, kLeastAttained };

struct ElasticOptions {
  JobOrder order = JobOrder::kLeastAttained;
  //! Extra weight of a worker a job already holds, against moving it.
  //! 1.0 and power -0.5 gave the lowest mean JCT over the Pollux workloads
  //! 1-4 in a sweep of stickiness {0, 0.3, 0.5, 1, 2} x power {1, 0.5, -0.5, -1, -2}.
  double stickiness = 1.0;
  //! Growth maximises sum(speedup^p)/p over jobs (p = 1: total throughput;
  //! p < 0 favours jobs holding little, as Pollux's p = -1 does).
  double power = -0.5;
};

class ElasticPolicy final : public Policy {
 public:
  ElasticPolicy(const char* name, ElasticOptions options) : name_(name), options_(options) {}
  Decisions Decide(const ClusterState& state, TimePoint now) override;
  const char* name() const override { return name_; }
  std::map<std::string, TimePoint> ReclaimTimers() const override {
    return {owed_since_.begin(), owed_since_.end()};
  }
  void RestoreReclaimTimers(const std::map<std::string, TimePoint>& timers) override {
    owed_since_ = {timers.begin(), timers.end()};
  }

 private:
  const char* name_;
  ElasticOptions options_;
  std::unordered_map<std::string, TimePoint> owed_since_;  // by consumer path
};

}  // namespace drover::sched

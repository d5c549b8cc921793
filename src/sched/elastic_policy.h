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
//      speedup^p / p with p < 1 so that jobs holding little come first
//      (Pollux's fairness knob), weighted by how little work the job has
//      left (JobState::remaining_work; ElasticOptions); a worker a job already holds
//      counts `stickiness` more, so GPUs move only for a clear gain (each move
//      pauses both jobs). A worker that gains nothing by the profile still
//      gets a GPU nobody else gains from (work-conserving), last.
//      A running job's growth is held back when its profile says the faster
//      run would not win back the resize's pause (JobState::resize_pause)
//      over the time it is likely still to run: its remaining work at its
//      current size when it knows it, else, as LAS assumes, the time it has
//      run (attained service over its workers); the GPUs
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
  double stickiness = 1.0;
  //! Growth maximises sum(w * speedup^p / p) over jobs (p = 1: total
  //! throughput; smaller p favours jobs holding little; Pollux uses p = -1).
  double power = 0.5;
  //! w = (remaining_work / median remaining_work of the jobs that know
  //! theirs)^-remaining_weight, 1 when unknown: jobs with less left grow
  //! first, as shortest-remaining-first does for mean completion time,
  //! without starving long ones. A job that does not know its remaining work
  //! counts what it has had (attained service), as LAS assumes. Since the
  //! estimate is the job's own, w is held within [1/4, 4].
  //! With learned profiles on the Pollux workloads 1-4 (each also with every
  //! submission 10-50 s later), power 0.5 and remaining_weight 0.25 gave the
  //! lowest mean JCT in a sweep of power {-1, -0.5, 0.25, 0.5, 0.75, 1} x
  //! remaining_weight {0.1, 0.15, 0.25, 0.35, 0.5, 1}, and stickiness 1 of
  //! {0.5, 1, 2}: about 6% below power -0.5 without remaining work.
  double remaining_weight = 0.25;
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

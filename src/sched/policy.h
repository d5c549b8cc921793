// Policy: a scheduling algorithm, chosen by name from a registry.
//
// Contract of Decide: given the cluster and the current time, return the
// changes to make. Same inputs (and same history of calls) give the same
// decisions. A policy may keep memory between calls (reclaim timers, queue
// levels), but never reads a clock, a file or a global. Not thread-safe: one
// caller at a time.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "sched/cluster_state.h"
#include "sched/decisions.h"

namespace drover::sched {

class Policy {
 public:
  virtual ~Policy() = default;
  virtual Decisions Decide(const ClusterState& state, TimePoint now) = 0;
  virtual const char* name() const = 0;
  //! State the policy keeps across cycles that must outlive a restart of its
  //! host: when each consumer started being owed GPUs (its reclaim grace
  //! runs from then), by consumer path. Empty for policies without any.
  virtual std::map<std::string, TimePoint> ReclaimTimers() const { return {}; }
  //! Restores what ReclaimTimers() returned, as a restarted server does.
  virtual void RestoreReclaimTimers(const std::map<std::string, TimePoint>&) {}
};

//! Names accepted by MakePolicy, e.g. {"drover", "fifo", "tiresias"}.
std::vector<std::string> PolicyNames();
//! kNotFound, naming the known policies, for an unknown name.
Result<std::unique_ptr<Policy>> MakePolicy(const std::string& name);

}  // namespace drover::sched

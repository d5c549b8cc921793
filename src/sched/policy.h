// Policy: a scheduling algorithm, chosen by name from a registry.
//
// Contract of Decide: given the cluster and the current time, return the
// changes to make. Same inputs (and same history of calls) give the same
// decisions. A policy may keep memory between calls (reclaim timers, queue
// levels), but never reads a clock, a file or a global. Not thread-safe: one
// caller at a time.
#pragma once

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
};

//! Names accepted by MakePolicy, e.g. {"drover", "fifo", "tiresias"}.
std::vector<std::string> PolicyNames();
//! kNotFound, naming the known policies, for an unknown name.
Result<std::unique_ptr<Policy>> MakePolicy(const std::string& name);

}  // namespace drover::sched

// Decisions: what the scheduler wants changed, as plain values.
#pragma once

#include <string>
#include <vector>

#include "common/job.h"
#include "sched/cluster_state.h"

namespace drover::sched {

enum class Action {
  kStart,    //!< a pending job starts on `placement`
  kGrow,     //!< a running elastic job gains workers; `placement` is the new whole
  kShrink,   //!< a running elastic job loses workers; `placement` is the new whole
  kPreempt,  //!< a running job stops and is requeued; `placement` is empty
};
const char* ActionName(Action a);

struct Decision {
  JobId job = 0;
  Action action = Action::kStart;
  Placement placement;
  std::string reason;
};

//! Why a job that is not running is still waiting, in words a user acts on.
struct PendingReason {
  JobId job = 0;
  std::string reason;
};

//! Live accounting per consumer node (subtree totals), for `drover consumers`.
struct ConsumerUsage {
  int64_t demand = 0;       //!< GPUs its jobs could use (elastic at max)
  int64_t entitlement = 0;  //!< fair share of the cluster this cycle
  int64_t allocated = 0;    //!< GPUs held after these decisions
  int64_t borrowed = 0;     //!< allocated above owned
  int64_t lent = 0;         //!< owned but idle (available to others)
  int64_t pending = 0;      //!< jobs not running after these decisions
};

struct Decisions {
  std::vector<Decision> changes;
  std::vector<PendingReason> pending;
  std::vector<ConsumerUsage> consumers;  //!< indexed like ClusterState::consumers
};

}  // namespace drover::sched

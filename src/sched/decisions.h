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

//! What kind of wait a pending job is in: what would make it start.
enum class PendingKind {
  kCapacity,    //!< its turn, or GPUs to free up (or free GPUs are split over hosts)
  kQuota,       //!< its consumer is at its fair share, its limit, or the GPUs it owns and may not exceed
  kGrace,       //!< its consumer is owed GPUs others borrow: the reclaim grace period is running
  kInfeasible,  //!< it cannot run as the cluster is (no host fits a worker; more GPUs than are up)
  kBackoff,     //!< (set by the server) restarting after failures, after a backoff
};
//! "capacity", "quota", "grace", "infeasible", "backoff".
const char* PendingKindName(PendingKind kind);

//! Why a job that is not running is still waiting, in words a user acts on.
struct PendingReason {
  JobId job = 0;
  std::string reason;
  PendingKind kind = PendingKind::kCapacity;
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

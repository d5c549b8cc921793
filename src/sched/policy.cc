#include "sched/policy.h"

#include "sched/elastic_policy.h"
#include "sched/tiresias_policy.h"

namespace drover::sched {

const char* ActionName(Action a) {
  switch (a) {
    case Action::kStart: return "start";
    case Action::kGrow: return "grow";
    case Action::kShrink: return "shrink";
    case Action::kPreempt: return "preempt";
  }
  return "?";
}

const char* PendingKindName(PendingKind kind) {
  switch (kind) {
    case PendingKind::kCapacity: return "capacity";
    case PendingKind::kQuota: return "quota";
    case PendingKind::kGrace: return "grace";
    case PendingKind::kInfeasible: return "infeasible";
    case PendingKind::kBackoff: return "backoff";
  }
  return "?";
}

std::vector<std::string> PolicyNames() { return {"drover", "fifo", "tiresias"}; }

Result<std::unique_ptr<Policy>> MakePolicy(const std::string& name) {
  std::unique_ptr<Policy> p;
  if (name == "drover") {
    p = std::make_unique<ElasticPolicy>("drover", ElasticOptions{.order = JobOrder::kLeastAttained});
  } else if (name == "fifo") {
    p = std::make_unique<ElasticPolicy>("fifo", ElasticOptions{.order = JobOrder::kFifo});
  } else if (name == "tiresias") {
    p = std::make_unique<TiresiasPolicy>();
  } else {
    std::string known;
    for (const std::string& n : PolicyNames()) known += (known.empty() ? "" : ", ") + n;
    return NotFound("unknown policy '" + name + "'; known policies: " + known);
  }
  return p;
}

}  // namespace drover::sched

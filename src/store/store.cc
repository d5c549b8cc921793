#include "store/store.h"

namespace drover::store {

bool WriteBatch::empty() const {
  return !plan_yaml && jobs.empty() && events.empty() && hosts.empty() && workers.empty() &&
         removed_workers.empty() && users.empty() && tokens.empty() && revoked_tokens.empty() &&
         removed_users.empty() && !reclaim_timers && !next_job_id && experiments.empty() && metrics.empty() &&
         deployments.empty() && samples.empty() && pruned_samples.empty();
}

}  // namespace drover::store

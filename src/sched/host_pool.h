// HostPool: free resources per host during one scheduling cycle, and where to
// put workers.
//
// Placement rules, in order: a job's new workers go first to hosts it already
// uses (growth stays local); the rest go to a single host if one can take them
// all, choosing the host that leaves the least room (best fit, so large holes
// stay whole for large jobs); otherwise to the host with the most room, then
// again, so that the job spans as few hosts as possible. Every resource
// dimension must fit. Hosts are bucketed by free GPUs, so a placement costs
// O(hosts touched + GPU buckets), not O(hosts). Ties go to the lower host
// index: same input, same placement. Not thread-safe.
#pragma once

#include <set>
#include <vector>

#include "common/resources.h"
#include "sched/cluster_state.h"

namespace drover::sched {

class HostPool {
 public:
  //! Every up host starts empty; down hosts offer nothing; an up host that
  //! does not accept work holds its workers but offers no room to Fit.
  explicit HostPool(const std::vector<HostState>& hosts);

  const Resources& free(int host) const { return free_[host]; }
  int64_t free_gpus() const { return free_gpus_; }
  int64_t total_gpus() const { return total_gpus_; }

  //! Marks `r` on `host` used (may go negative only through a caller's bug).
  void Take(int host, const Resources& r);
  void Give(int host, const Resources& r);
  void TakePlacement(const Placement& p, const Resources& unit);
  void GivePlacement(const Placement& p, const Resources& unit);

  //! Finds room for up to `workers` more workers of `unit` next to `existing`
  //! and takes it. Returns the added slots (possibly fewer workers than asked
  //! when the cluster is fragmented); returns nothing and takes nothing when
  //! fewer than `at_least` workers fit.
  Placement Fit(const Resources& unit, int workers, int at_least, const Placement& existing);

 private:
  int Bucket(int host) const;
  void Reindex(int host, int old_bucket);
  int BestFit(const Resources& unit, int workers) const;
  int MostRoom(const Resources& unit) const;

  std::vector<Resources> free_;
  std::vector<bool> up_;
  std::vector<bool> open_;  // up and accepting work: in buckets_, counted in free_gpus_
  std::vector<std::set<int>> buckets_;  // by free GPUs (capped), ordered by host index
  int64_t free_gpus_ = 0;
  int64_t total_gpus_ = 0;
};

//! Adds `extra` slots into `base`, merging slots on the same host.
Placement MergePlacement(Placement base, const Placement& extra);

}  // namespace drover::sched

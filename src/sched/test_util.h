// Builders that keep scheduler tests short. Test-only.
#pragma once

#include <string>

#include "sched/cluster_state.h"
#include "sched/decisions.h"

namespace drover::sched::testing {

//! A cluster of `hosts` hosts with `gpus` GPUs, 64 CPUs and 512 GiB each.
inline ClusterState Cluster(int hosts, int gpus) {
  ClusterState s;
  for (int h = 0; h < hosts; ++h) {
    s.hosts.push_back({"h" + std::to_string(h), {gpus, 64000, 512 * 1024}, true});
  }
  return s;
}

inline int AddConsumer(ClusterState& s, const std::string& parent, const std::string& name,
                       ConsumerPlan plan) {
  return s.consumers.Add(s.consumers.Find(parent), name, plan).value();
}

inline JobState& AddJob(ClusterState& s, JobId id, const std::string& consumer, int min, int max,
                        TimePoint submit = 0) {
  JobState j;
  j.id = id;
  j.consumer = s.consumers.Find(consumer);
  j.workers = {min, max};
  j.per_worker = {1, 1000, 1024};
  j.submit_time = submit;
  s.jobs.push_back(j);
  return s.jobs.back();
}

inline JobState* FindJob(ClusterState& s, JobId id) {
  for (JobState& j : s.jobs) {
    if (j.id == id) return &j;
  }
  return nullptr;
}

//! Applies decisions the way the server or simulator would.
inline void Apply(ClusterState& s, const Decisions& d) {
  for (const Decision& c : d.changes) FindJob(s, c.job)->placement = c.placement;
}

inline int Workers(ClusterState& s, JobId id) { return WorkerCount(FindJob(s, id)->placement); }

inline const Decision* Change(const Decisions& d, JobId id) {
  for (const Decision& c : d.changes) {
    if (c.job == id) return &c;
  }
  return nullptr;
}

inline std::string Reason(const Decisions& d, JobId id) {
  for (const PendingReason& p : d.pending) {
    if (p.job == id) return p.reason;
  }
  return "";
}

//! The kind of job `id`'s wait, by name ("" if it is not pending).
inline std::string Kind(const Decisions& d, JobId id) {
  for (const PendingReason& p : d.pending) {
    if (p.job == id) return PendingKindName(p.kind);
  }
  return "";
}

}  // namespace drover::sched::testing

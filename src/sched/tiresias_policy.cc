#include "sched/tiresias_policy.h"

#include <algorithm>
#include <cmath>

namespace drover::sched {

Decisions TiresiasPolicy::Decide(const ClusterState& state, TimePoint now) {
  Decisions out;
  // The reference truncates times to whole seconds.
  double t = std::trunc(now);
  std::unordered_map<JobId, int> index;
  for (size_t i = 0; i < state.jobs.size(); ++i) index[state.jobs[i].id] = static_cast<int>(i);

  auto gone = [&](JobId id) { return !index.count(id); };
  std::erase_if(queue0_, gone);
  std::erase_if(queue1_, gone);
  std::erase_if(track_, [&](const auto& kv) { return gone(kv.first); });
  for (const JobState& j : state.jobs) {
    if (track_.emplace(j.id, Track{}).second) queue0_.push_back(j.id);
  }
  for (const JobState& j : state.jobs) {
    Track& tr = track_[j.id];
    double dt = std::trunc(t - tr.last_check);
    tr.last_check = t;
    if (!tr.running) continue;
    tr.executed += dt;
    auto it = std::find(queue0_.begin(), queue0_.end(), j.id);
    double gpus = static_cast<double>(j.workers.max * std::max<int64_t>(j.per_worker.gpus, 1));
    if (it != queue0_.end() && std::trunc(tr.executed * gpus) >= threshold_) {
      queue0_.erase(it);
      queue1_.push_back(j.id);
    }
  }

  int64_t unpromised = 0;
  std::vector<int64_t> free(state.hosts.size(), 0);
  for (size_t h = 0; h < state.hosts.size(); ++h) {
    if (!state.hosts[h].up) continue;
    unpromised += state.hosts[h].capacity.gpus;
    free[h] = state.hosts[h].capacity.gpus;
  }
  // The host with the most free GPUs that takes new workers (-1 if none).
  auto roomiest = [&]() {
    int best = -1;
    for (size_t h = 0; h < free.size(); ++h) {
      if (state.hosts[h].up && state.hosts[h].accepts_work && (best < 0 || free[h] > free[best])) best = static_cast<int>(h);
    }
    return best;
  };
  std::vector<JobId> order(queue0_);
  order.insert(order.end(), queue1_.begin(), queue1_.end());
  std::vector<bool> run(order.size());
  for (size_t k = 0; k < order.size(); ++k) {
    const JobState& j = state.jobs[index[order[k]]];
    int64_t gpus = j.workers.max * j.per_worker.gpus;
    run[k] = gpus <= unpromised;
    if (run[k]) unpromised -= gpus;
  }
  // Jobs that keep running keep their hosts; the rest are released first. A
  // job with a worker on a host that went down is placed again from scratch.
  auto lost = [&](const JobState& j) {
    return std::any_of(j.placement.begin(), j.placement.end(),
                       [&](const HostSlot& s) { return !state.hosts[s.host].up; });
  };
  for (size_t k = 0; k < order.size(); ++k) {
    const JobState& j = state.jobs[index[order[k]]];
    Track& tr = track_[j.id];
    if (run[k] && j.running() && !lost(j)) {
      for (const HostSlot& s : j.placement) free[s.host] -= s.workers * j.per_worker.gpus;
    } else if (!run[k] && j.running()) {
      out.changes.push_back({j.id, Action::kPreempt, {}, "a job with less attained service needs its GPUs"});
    }
    tr.running = run[k];
  }
  for (size_t k = 0; k < order.size(); ++k) {
    const JobState& j = state.jobs[index[order[k]]];
    if (!run[k]) {
      out.pending.push_back({j.id, "waiting in Tiresias queue " +
                                       std::to_string(k < queue0_.size() ? 0 : 1) + " behind jobs with less attained service"});
      continue;
    }
    if (j.running() && !lost(j)) continue;
    Placement p;
    int64_t gpw = std::max<int64_t>(j.per_worker.gpus, 1);
    int left = j.workers.max;
    while (left > 0) {
      int best = roomiest();
      if (best < 0) break;
      int n = static_cast<int>(std::min<int64_t>(left, free[best] / gpw));
      if (n <= 0) break;  // GPUs are free but split into pieces smaller than a worker
      free[best] -= n * gpw;
      p.push_back({best, n});
      left -= n;
    }
    if (left > 0) {
      for (const HostSlot& s : p) free[s.host] += s.workers * gpw;
      track_[j.id].running = false;
      if (j.running()) out.changes.push_back({j.id, Action::kPreempt, {}, "a host it used is down"});
      out.pending.push_back({j.id, "its turn has come, but free GPUs are split into pieces smaller than its workers"});
      continue;
    }
    out.changes.push_back({j.id, Action::kStart, p, "its turn in Tiresias queue " +
                                                        std::to_string(k < queue0_.size() ? 0 : 1)});
  }
  return out;
}

}  // namespace drover::sched

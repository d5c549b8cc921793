#include "sched/host_pool.h"

#include <algorithm>

#include "common/check.h"

namespace drover::sched {

int WorkerCount(const Placement& p) {
  int n = 0;
  for (const HostSlot& s : p) n += s.workers;
  return n;
}

Placement MergePlacement(Placement base, const Placement& extra) {
  for (const HostSlot& e : extra) {
    auto it = std::find_if(base.begin(), base.end(), [&](const HostSlot& s) { return s.host == e.host; });
    if (it != base.end()) {
      it->workers += e.workers;
    } else {
      base.push_back(e);
    }
  }
  return base;
}

HostPool::HostPool(const std::vector<HostState>& hosts) {
  int64_t max_gpus = 0;
  for (const HostState& h : hosts) max_gpus = std::max(max_gpus, h.capacity.gpus);
  buckets_.resize(static_cast<size_t>(max_gpus) + 1);
  free_.reserve(hosts.size());
  for (size_t i = 0; i < hosts.size(); ++i) {
    up_.push_back(hosts[i].up);
    open_.push_back(hosts[i].up && hosts[i].accepts_work);
    free_.push_back(hosts[i].up ? hosts[i].capacity : Resources{});
    if (!hosts[i].up) continue;
    total_gpus_ += hosts[i].capacity.gpus;
    if (!open_[i]) continue;
    free_gpus_ += hosts[i].capacity.gpus;
    buckets_[Bucket(static_cast<int>(i))].insert(static_cast<int>(i));
  }
}

int HostPool::Bucket(int host) const {
  // Free GPUs outside [0, capacity] mean a caller took or gave what it did not hold.
  DROVER_CHECK(free_[host].gpus >= 0 && free_[host].gpus < static_cast<int64_t>(buckets_.size()));
  return static_cast<int>(free_[host].gpus);
}

void HostPool::Reindex(int host, int old_bucket) {
  int b = Bucket(host);
  if (b == old_bucket) return;
  buckets_[old_bucket].erase(host);
  buckets_[b].insert(host);
}

void HostPool::Take(int host, const Resources& r) {
  if (!up_[host]) return;  // workers on a down host hold nothing schedulable
  if (!open_[host]) {      // nor does a closed host offer its room: only its own count changes
    free_[host] -= r;
    return;
  }
  int old = Bucket(host);
  free_[host] -= r;
  free_gpus_ -= r.gpus;
  Reindex(host, old);
}

void HostPool::Give(int host, const Resources& r) {
  if (!up_[host]) return;
  if (!open_[host]) {
    free_[host] += r;
    return;
  }
  int old = Bucket(host);
  free_[host] += r;
  free_gpus_ += r.gpus;
  Reindex(host, old);
}

void HostPool::TakePlacement(const Placement& p, const Resources& unit) {
  for (const HostSlot& s : p) Take(s.host, unit * s.workers);
}

void HostPool::GivePlacement(const Placement& p, const Resources& unit) {
  for (const HostSlot& s : p) Give(s.host, unit * s.workers);
}

int HostPool::BestFit(const Resources& unit, int workers) const {
  Resources want = unit * workers;
  for (size_t b = static_cast<size_t>(std::max<int64_t>(want.gpus, 0)); b < buckets_.size(); ++b) {
    for (int h : buckets_[b]) {
      if (free_[h].Fits(want)) return h;
    }
  }
  return -1;
}

int HostPool::MostRoom(const Resources& unit) const {
  for (int b = static_cast<int>(buckets_.size()) - 1; b >= std::max<int64_t>(unit.gpus, 0); --b) {
    for (int h : buckets_[b]) {
      if (free_[h].CopiesOf(unit) > 0) return h;
    }
  }
  return -1;
}

Placement HostPool::Fit(const Resources& unit, int workers, int at_least, const Placement& existing) {
  Placement added;
  int left = workers;
  auto take = [&](int host, int n) {
    Take(host, unit * n);
    added.push_back({host, n});
    left -= n;
  };
  for (const HostSlot& s : existing) {
    if (left == 0) break;
    if (!open_[s.host]) continue;
    int n = static_cast<int>(std::min<int64_t>(left, free_[s.host].CopiesOf(unit)));
    if (n > 0) take(s.host, n);
  }
  while (left > 0) {
    int h = BestFit(unit, left);
    if (h >= 0) {
      take(h, left);
      break;
    }
    h = MostRoom(unit);
    if (h < 0) break;
    take(h, static_cast<int>(std::min<int64_t>(left, free_[h].CopiesOf(unit))));
  }
  if (workers - left < at_least) {
    GivePlacement(added, unit);
    return {};
  }
  return added;
}

}  // namespace drover::sched

#include "sched/elastic_policy.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <queue>
#include <tuple>

#include "sched/fair_share.h"
#include "sched/host_pool.h"

namespace drover::sched {
namespace {

// The gain of a worker that a job's profile says adds nothing (see Gain).
constexpr double kIdleGain = 1e-9;

constexpr int64_t kNoLimit = std::numeric_limits<int64_t>::max();

// The most a job's remaining-work weight may favour it (or disfavour it):
// remaining work is the job's own report, so a job claiming almost nothing
// left gets at most this much more pull on GPUs than the median job.
constexpr double kMaxWeight = 4.0;

// Seconds of resize pause from which a grow the profile gains nothing from
// is not worth it (see HoldBackGrowthNotWorthItsPause).
constexpr double kLongPause = 1.0;

// Per-job scratch for one cycle.
struct Work {
  Placement live;   // workers on hosts that are up; after Place, the new placement
  int cur = 0;      // live worker count
  int target = 0;   // workers after this cycle
  int was = 0;      // live workers when the cycle began
  bool requeued = false;  // lost its hosts this cycle: waits for the next one
  std::string reason;     // why it is pending, when it is
  PendingKind kind = PendingKind::kCapacity;  // and what kind of wait that is
  std::string change;     // why its placement changed, when it did
  bool held = false;      // its growth was held back this cycle: it grows no more
};

std::string Gpus(int64_t n) { return std::to_string(n) + (n == 1 ? " GPU" : " GPUs"); }

std::string Secs(double s) { return std::to_string(static_cast<int64_t>(std::ceil(s))) + "s"; }

class Cycle {
 public:
  Cycle(const ClusterState& s, TimePoint now, const ElasticOptions& opt,
        std::unordered_map<std::string, TimePoint>& owed_since)
      : s_(s), tree_(s.consumers), now_(now), opt_(opt), owed_since_(owed_since), pool_(s.hosts),
        w_(s.jobs.size()) {}

  Decisions Run() {
    WeighRemainingWork();
    TakeLiveWorkers();
    ComputeEntitlements();
    OrderJobs();
    UpdateOwed();
    Protect();
    AdmitWithinEntitlement();
    for (int c : consumer_order_) Grow(by_consumer_[c], /*within_entitlement=*/true);
    Borrow();
    Grow(order_, /*within_entitlement=*/false);
    if (HoldBackGrowthNotWorthItsPause()) Grow(order_, /*within_entitlement=*/false);
    Place();
    Backfill();
    Emit();
    Report();
    return std::move(out_);
  }

 private:
  const JobState& job(int j) const { return s_.jobs[j]; }
  int64_t Gpw(int j) const { return job(j).per_worker.gpus; }
  int64_t MinGpus(int j) const { return job(j).workers.min * Gpw(j); }

  void TakeLiveWorkers() {
    for (size_t j = 0; j < w_.size(); ++j) {
      const JobState& jb = s_.jobs[j];
      Work& w = w_[j];
      int lost = 0;
      std::string lost_host;
      for (const HostSlot& slot : jb.placement) {
        if (s_.hosts[slot.host].up) {
          w.live.push_back(slot);
        } else {
          lost += slot.workers;
          lost_host = s_.hosts[slot.host].name;
        }
      }
      w.cur = WorkerCount(w.live);
      if (lost > 0) {
        std::string why = "lost " + std::to_string(lost) + " worker(s): host " + lost_host + " is down";
        if (!jb.workers.rigid() && w.cur >= jb.workers.min) {
          w.change = why;
        } else {
          w.change = why + "; requeued";
          w.live.clear();
          w.cur = 0;
          w.requeued = true;
          w.reason = why + "; requeued, starts again next cycle";
          w.kind = PendingKind::kCapacity;
        }
      }
      w.was = w.cur;
      pool_.TakePlacement(w.live, jb.per_worker);
    }
  }

  // Each job's work left, in seconds on one worker: its own estimate, else,
  // as LAS assumes, as much as it has had (attained service); 0: no idea.
  // Then its weight in growth (ElasticOptions::remaining_weight).
  void WeighRemainingWork() {
    left_.assign(s_.jobs.size(), 0.0);
    weight_.assign(s_.jobs.size(), 1.0);
    std::vector<double> known;
    for (size_t j = 0; j < s_.jobs.size(); ++j) {
      const JobState& jb = s_.jobs[j];
      const double r = jb.remaining_work > 0 && std::isfinite(jb.remaining_work) ? jb.remaining_work
                                                                                  : jb.attained_service;
      if (r > 0 && std::isfinite(r)) known.push_back(left_[j] = r);
    }
    if (known.empty() || opt_.remaining_weight == 0) return;
    auto mid = known.begin() + known.size() / 2;
    std::nth_element(known.begin(), mid, known.end());
    const double median = *mid;
    for (size_t j = 0; j < s_.jobs.size(); ++j) {
      if (left_[j] > 0) {
        weight_[j] = std::clamp(std::pow(left_[j] / median, -opt_.remaining_weight), 1 / kMaxWeight, kMaxWeight);
      }
    }
  }

  void ComputeEntitlements() {
    int nc = tree_.size();
    own_demand_.assign(nc, 0);
    holding_.assign(nc, 0);
    for (size_t j = 0; j < w_.size(); ++j) {
      int c = job(j).consumer;
      own_demand_[c] += job(j).workers.max * Gpw(j);
      holding_[c] += w_[j].cur * Gpw(j);
    }
    capacity_ = pool_.total_gpus();
    ent_ = drover::sched::ComputeEntitlements(tree_, own_demand_, capacity_);
    own_ent_ = ent_;
    hold_sub_ = holding_;
    for (int c = nc - 1; c > 0; --c) {
      int p = tree_.node(c).parent;
      own_ent_[p] -= ent_[c];
      hold_sub_[p] += hold_sub_[c];
    }
    got_.assign(nc, 0);
    got_sub_.assign(nc, 0);
  }

  void OrderJobs() {
    by_consumer_.assign(tree_.size(), {});
    for (size_t j = 0; j < w_.size(); ++j) by_consumer_[job(j).consumer].push_back(static_cast<int>(j));
    auto before = [&](int a, int b) {
      const JobState& x = job(a);
      const JobState& y = job(b);
      if (x.priority != y.priority) return x.priority > y.priority;
      // Jobs already running keep their place, so a reclaim takes back GPUs
      // without swapping one running job for a waiting one of the same rank.
      if (x.running() != y.running()) return x.running();
      if (opt_.order == JobOrder::kLeastAttained && x.attained_service != y.attained_service) {
        return x.attained_service < y.attained_service;
      }
      return std::tie(x.submit_time, x.id) < std::tie(y.submit_time, y.id);
    };
    for (auto& list : by_consumer_) std::sort(list.begin(), list.end(), before);
  }

  void UpdateOwed() {
    int nc = tree_.size();
    owed_.assign(nc, false);
    top_pending_priority_.assign(nc, std::numeric_limits<int>::min());
    // A consumer is owed GPUs only when someone else holds them above a fair share.
    int borrowers = 0, a_borrower = -1;
    for (int c = 0; c < nc; ++c) {
      if (Borrowing(c)) ++borrowers, a_borrower = c;
    }
    for (size_t j = 0; j < w_.size(); ++j) {
      if (w_[j].cur > 0 || w_[j].requeued) continue;
      int c = job(j).consumer;
      top_pending_priority_[c] = std::max(top_pending_priority_[c], job(j).priority);
      bool others_borrow = borrowers > 1 || (borrowers == 1 && a_borrower != c);
      if (others_borrow && holding_[c] + MinGpus(j) <= own_ent_[c]) owed_[c] = true;
    }
    overdue_ = false;
    for (int c = 0; c < nc; ++c) {
      const std::string& path = tree_.node(c).path;
      if (!owed_[c]) {
        owed_since_.erase(path);
        continue;
      }
      TimePoint since = owed_since_.emplace(path, now_).first->second;
      if (now_ - since >= tree_.node(c).plan.reclaim_grace) overdue_ = true;
    }
    // Forget consumers that no longer exist.
    for (auto it = owed_since_.begin(); it != owed_since_.end();) {
      it = tree_.Find(it->first) < 0 ? owed_since_.erase(it) : std::next(it);
    }
  }

  bool Borrowing(int c) const {
    return holding_[c] > own_ent_[c] && hold_sub_[c] > tree_.node(c).plan.owned;
  }

  void Protect() {
    avail_ = capacity_;
    for (size_t j = 0; j < w_.size(); ++j) {
      if (w_[j].cur == 0) continue;
      int c = job(j).consumer;
      bool reclaimable = overdue_ && Borrowing(c);
      bool outranked = top_pending_priority_[c] > job(j).priority;
      if (reclaimable || outranked) continue;
      Commit(static_cast<int>(j), job(j).workers.min);
    }
  }

  void Commit(int j, int workers) {
    int64_t gpus = (workers - w_[j].target) * Gpw(j);
    w_[j].target = workers;
    avail_ -= gpus;
    int c = job(j).consumer;
    got_[c] += gpus;
    for (int a = c; a >= 0; a = tree_.node(a).parent) got_sub_[a] += gpus;
  }

  // GPUs consumer c may still take above its entitlement: bounded by every
  // `limit` on its path, and by `owned` wherever borrowing is off.
  int64_t Headroom(int c) const {
    int64_t room = kNoLimit;
    for (int a = c; a > 0; a = tree_.node(a).parent) {
      const ConsumerPlan& p = tree_.node(a).plan;
      if (p.limit) room = std::min(room, *p.limit - got_sub_[a]);
      if (!p.borrow) room = std::min(room, p.owned - got_sub_[a]);
    }
    return room;
  }

  std::string LimitReason(int c) const {
    for (int a = c; a > 0; a = tree_.node(a).parent) {
      const ConsumerNode& n = tree_.node(a);
      if (n.plan.limit && got_sub_[a] >= *n.plan.limit) {
        return "consumer " + n.path + " is at its limit of " + Gpus(*n.plan.limit);
      }
      if (!n.plan.borrow && got_sub_[a] >= n.plan.owned) {
        return "consumer " + n.path + " uses all " + Gpus(n.plan.owned) +
               " it owns and may not borrow";
      }
    }
    return "";
  }

  void AdmitWithinEntitlement() {
    int nc = tree_.size();
    for (int c = 0; c < nc; ++c) {
      if (!by_consumer_[c].empty()) consumer_order_.push_back(c);
    }
    // Furthest below entitlement first.
    auto deficit = [&](int c) {
      return static_cast<double>(got_[c]) / static_cast<double>(std::max<int64_t>(own_ent_[c], 1));
    };
    std::stable_sort(consumer_order_.begin(), consumer_order_.end(),
                     [&](int a, int b) { return deficit(a) < deficit(b); });
    for (int c : consumer_order_) {
      for (int j : by_consumer_[c]) {
        order_.push_back(j);
        if (w_[j].target > 0 || w_[j].requeued) continue;
        int64_t need = MinGpus(j);
        w_[j].kind = PendingKind::kCapacity;
        if (!FitsSomeHost(job(j).per_worker)) {
          w_[j].reason = "no host that is up can hold one worker of " + job(j).per_worker.ToString();
          w_[j].kind = PendingKind::kInfeasible;
        } else if (need > capacity_) {
          w_[j].reason = "needs " + Gpus(need) + " but the cluster has only " + Gpus(capacity_) + " up";
          w_[j].kind = PendingKind::kInfeasible;
        } else if (got_[c] + need > own_ent_[c] && own_ent_[c] < std::min(own_demand_[c], ent_[0])) {
          w_[j].reason = FairShareReason(c, need);
          w_[j].kind = PendingKind::kQuota;
        } else if (got_[c] + need > own_ent_[c] || need > avail_) {
          if (owed_[c]) w_[j].kind = PendingKind::kGrace;
          // What is free is what the running jobs leave at their minimum size.
          w_[j].reason = owed_[c]     ? ReclaimReason(c, need)
                         : avail_ <= 0 ? "waiting for " + Gpus(need) + " to free up: all " + Gpus(capacity_) +
                                             " are in use"
                                       : "waiting for " + Gpus(need) + " to free up: " + std::to_string(avail_) +
                                             " of " + Gpus(capacity_) + " are free";
        } else {
          Commit(j, job(j).workers.min);
        }
      }
    }
  }

  std::string FairShareReason(int c, int64_t need) const {
    const ConsumerNode& n = tree_.node(c);
    return "consumer " + n.path + " holds " + Gpus(got_[c]) + " and its fair share is " +
           Gpus(own_ent_[c]) + " (owns " + std::to_string(n.plan.owned) + "); this job needs " +
           Gpus(need);
  }

  std::string ReclaimReason(int c, int64_t need) const {
    const ConsumerNode& n = tree_.node(c);
    std::string r = "consumer " + n.path + " is owed GPUs lent to others (holds " + Gpus(got_[c]) +
                    ", fair share " + Gpus(own_ent_[c]) + "); ";
    auto it = owed_since_.find(n.path);
    double left = it == owed_since_.end() ? 0 : it->second + n.plan.reclaim_grace - now_;
    return r + (left > 0 ? "reclaiming them, grace ends in " + Secs(left) : "reclaiming them now");
  }

  // Running jobs whose grow would not win back its resize pause keep their
  // size (see the header). True when any was held back.
  bool HoldBackGrowthNotWorthItsPause() {
    bool any = false;
    for (size_t j = 0; j < w_.size(); ++j) {
      Work& w = w_[j];
      const JobState& jb = job(j);
      if (w.cur == 0 || w.target <= w.cur || !(jb.resize_pause > 0)) continue;
      if (w.target >= static_cast<int>(jb.speedup.size()) || !(jb.speedup[w.cur] > 0)) continue;
      const double gain = jb.speedup[w.target] / jb.speedup[w.cur] - 1;  // rate, relative
      const double remaining = left_[j] / jb.speedup[w.cur];  // seconds left at the current size
      // Running faster by `gain` saves remaining * gain / (1 + gain). A grow the
      // profile gains nothing from is the work-conserving one (GPUs nobody
      // gains from, where the profile may be wrong): it stands when a resize
      // is an in-process regroup (well under a second), and is held when it
      // is a restart.
      const bool worth = gain > 0 ? remaining * gain / (1 + gain) >= jb.resize_pause : jb.resize_pause < kLongPause;
      if (worth) continue;
      Commit(static_cast<int>(j), w.cur);
      w.held = true;
      any = true;
    }
    return any;
  }

  double Gain(int j, int t) const {
    const JobState& jb = job(j);
    if (t >= jb.workers.max) return -1;
    if (w_[j].held && t >= w_[j].cur) return -1;
    double g = 1.0;
    if (!jb.speedup.empty()) {
      if (t + 1 >= static_cast<int>(jb.speedup.size())) return -1;
      auto value = [&](int k) {
        double a = jb.speedup[t], b = jb.speedup[k];
        return opt_.power == 1.0 ? b - a : (a > 0 && b > a ? (std::pow(b, opt_.power) - std::pow(a, opt_.power)) / opt_.power : b - a);
      };
      // The best average gain of the next k workers, not only the next one:
      // growth then follows the profile's concave hull, and looks past a dip
      // (the worker that crosses onto a new host and pays for the network)
      // to the sizes beyond it. In the Pollux workloads this lowered mean JCT
      // by 2-5% with learned profiles and 4-12% with the true ones.
      g = value(t + 1);
      const int last = std::min<int>(jb.workers.max, static_cast<int>(jb.speedup.size()) - 1);
      for (int k = t + 2; k <= last; ++k) g = std::max(g, value(k) / (k - t));
      // Work-conserving: a worker the profile says gains nothing still beats
      // an idle GPU, after every worker that gains (in the Pollux workloads
      // this lowered mean JCT by 1-4%, learned profiles or true).
      g = std::max(g, kIdleGain);
    }
    if (t + 1 <= w_[j].cur) g *= 1.0 + opt_.stickiness;
    return g * weight_[j] / static_cast<double>(std::max<int64_t>(Gpw(j), 1));
  }

  // Adds workers one at a time to the job that gains most, while the consumer
  // budget (entitlement, or headroom when borrowing) and the cluster allow.
  void Grow(const std::vector<int>& jobs, bool within_entitlement) {
    using Entry = std::tuple<double, int, int>;  // gain, -rank, job
    std::priority_queue<Entry> heap;
    for (size_t r = 0; r < jobs.size(); ++r) {
      int j = jobs[r];
      if (w_[j].target == 0 || job(j).workers.rigid()) continue;
      double g = Gain(j, w_[j].target);
      if (g > 0) heap.emplace(g, -static_cast<int>(r), j);
    }
    while (!heap.empty() && avail_ > 0) {
      auto [g, neg_rank, j] = heap.top();
      heap.pop();
      int c = job(j).consumer;
      int64_t budget = within_entitlement ? own_ent_[c] - got_[c] : Headroom(c);
      int64_t room = within_entitlement ? avail_ : avail_ - ReservedAgainst(c);
      if (Gpw(j) > std::min(budget, room)) continue;
      Commit(j, w_[j].target + 1);
      double next = Gain(j, w_[j].target);
      if (next > 0) heap.emplace(next, neg_rank, j);
    }
  }

  void Borrow() {
    ReserveUnlent();
    using Entry = std::tuple<double, int>;  // -(usage per share), -consumer
    std::priority_queue<Entry> heap;
    std::vector<size_t> next(tree_.size(), 0);
    auto key = [&](int c) { return -static_cast<double>(got_sub_[c]) / tree_.node(c).plan.share; };
    for (int c : consumer_order_) heap.emplace(key(c), -c);
    while (!heap.empty() && avail_ > 0) {
      int c = -std::get<1>(heap.top());
      heap.pop();
      const std::vector<int>& list = by_consumer_[c];
      int64_t room = std::min(avail_ - ReservedAgainst(c), Headroom(c));
      for (size_t& k = next[c]; k < list.size(); ++k) {
        int j = list[k];
        if (w_[j].target > 0 || w_[j].requeued || MinGpus(j) > room) continue;
        Commit(j, job(j).workers.min);
        w_[j].reason.clear();
        ++k;
        heap.emplace(key(c), -c);
        break;
      }
    }
    for (int j : order_) {
      if (w_[j].target > 0 || w_[j].requeued) continue;
      std::string limit = LimitReason(job(j).consumer);
      if (!limit.empty()) {
        w_[j].reason = limit;
        w_[j].kind = PendingKind::kQuota;
      }
    }
  }

  void Place() {
    // Free first: shrinks and preemptions give back their least-used hosts.
    for (size_t j = 0; j < w_.size(); ++j) {
      Work& w = w_[j];
      if (w.cur <= w.target) continue;
      const JobState& jb = job(j);
      Placement keep = w.live;
      std::stable_sort(keep.begin(), keep.end(), [](const HostSlot& a, const HostSlot& b) {
        return a.workers != b.workers ? a.workers < b.workers : a.host > b.host;
      });
      int drop = w.cur - w.target;
      for (HostSlot& slot : keep) {
        int n = std::min(drop, slot.workers);
        pool_.Give(slot.host, jb.per_worker * n);
        slot.workers -= n;
        drop -= n;
      }
      std::erase_if(keep, [](const HostSlot& s) { return s.workers == 0; });
      std::sort(keep.begin(), keep.end(), [](const HostSlot& a, const HostSlot& b) { return a.host < b.host; });
      std::string why = ShrinkReason(jb.consumer);
      if (w.target == 0) {
        w.change = why;
        w.reason = "preempted: " + why;
        w.kind = PendingKind::kCapacity;
      } else {
        w.change = why;
      }
      w.live = keep;
      w.cur = w.target;
    }
    for (int j : order_) {
      Work& w = w_[j];
      if (w.target <= w.cur) continue;
      const JobState& jb = job(j);
      if (w.cur > 0) {
        Placement added = pool_.Fit(jb.per_worker, w.target - w.cur, 0, w.live);
        int got = WorkerCount(added);
        if (got == 0) continue;
        w.live = MergePlacement(w.live, added);
        w.change = "idle GPUs";
        w.cur += got;
      } else {
        Start(j, w.target);
      }
    }
  }

  bool Start(int j, int workers) {
    Work& w = w_[j];
    const JobState& jb = job(j);
    // A job preempted earlier in this cycle goes back where it was if it can.
    Placement p = pool_.Fit(jb.per_worker, workers, jb.workers.min, jb.placement);
    if (p.empty()) {
      std::string in_doubt;
      for (const HostState& h : s_.hosts) {
        if (h.up && !h.accepts_work) in_doubt += (in_doubt.empty() ? "" : ", ") + h.name;
      }
      w.reason = "waiting for " + std::to_string(jb.workers.min) + " worker(s) of " + jb.per_worker.ToString() +
                 (in_doubt.empty() ? ": free GPUs are spread over hosts that cannot hold them"
                                   : ": free GPUs are on hosts in doubt (" + in_doubt +
                                         "), which take no new work until their agents sync again");
      w.kind = PendingKind::kCapacity;
      return false;
    }
    w.live = p;
    w.cur = WorkerCount(p);
    w.reason.clear();
    w.change = w.was > 0 ? "placed again" : "";
    return true;
  }

  std::string ShrinkReason(int c) const {
    const ConsumerNode& n = tree_.node(c);
    if (Borrowing(c)) {
      return "consumer " + n.path + " returns borrowed GPUs (holds " + Gpus(holding_[c]) +
             ", fair share " + Gpus(own_ent_[c]) + ")";
    }
    if (top_pending_priority_[c] != std::numeric_limits<int>::min()) {
      return "GPUs go to a job of " + n.path + " that ranks higher";
    }
    return "GPUs move to jobs that gain more from them";
  }

  // Free GPUs that fragmentation left idle go to pending jobs that fit.
  void Backfill() {
    for (int j : order_) {
      if (pool_.free_gpus() <= 0) break;
      Work& w = w_[j];
      if (w.cur > 0 || w.requeued) continue;
      int c = job(j).consumer;
      if (MinGpus(j) > pool_.free_gpus() - ReservedAgainst(c) || MinGpus(j) > Headroom(c)) continue;
      if (!FitsSomeHost(job(j).per_worker)) continue;
      if (Start(j, job(j).workers.min)) Commit(j, w.cur);
    }
  }

  // One change per job: its placement at the start of the cycle against its
  // placement now. A job moved or restarted elsewhere shows as a start.
  void Emit() {
    for (size_t j = 0; j < w_.size(); ++j) {
      const JobState& jb = s_.jobs[j];
      Work& w = w_[j];
      Placement before = jb.placement, after = w.live;
      auto by_host = [](const HostSlot& a, const HostSlot& b) { return a.host < b.host; };
      std::sort(before.begin(), before.end(), by_host);
      std::sort(after.begin(), after.end(), by_host);
      if (before == after) continue;
      int from = WorkerCount(jb.placement), to = WorkerCount(w.live);
      std::string sizes = "from " + std::to_string(from) + " to " + std::to_string(to) + " workers: ";
      Action a;
      std::string why;
      if (to == 0) {
        a = Action::kPreempt;
        why = w.change;
      } else if (from == 0 || jb.workers.rigid()) {
        a = Action::kStart;
        why = "started on " + std::to_string(to) + " worker(s)" + (w.change.empty() ? "" : " (" + w.change + ")");
      } else {
        // Same size on other hosts (lost workers replaced) counts as a grow.
        a = to < from ? Action::kShrink : Action::kGrow;
        why = sizes + w.change;
      }
      out_.changes.push_back({jb.id, a, after, why});
    }
  }

  // Whether one worker of `unit` fits on some up host, memoised per size.
  bool FitsSomeHost(const Resources& unit) {
    auto key = std::make_tuple(unit.gpus, unit.cpu_millis, unit.memory_mib);
    auto it = fits_.find(key);
    if (it != fits_.end()) return it->second;
    bool fits = false;
    for (const HostState& h : s_.hosts) fits = fits || (h.up && h.capacity.Fits(unit));
    return fits_[key] = fits;
  }

  // Idle GPUs owned by consumers that do not lend: nobody else may use them.
  // Counted once per outermost non-lending node.
  void ReserveUnlent() {
    reserved_.assign(tree_.size(), 0);
    for (int c = 1; c < tree_.size(); ++c) {
      const ConsumerNode& n = tree_.node(c);
      if (n.plan.lend) continue;
      bool outer = true;
      for (int a = n.parent; a > 0 && outer; a = tree_.node(a).parent) outer = tree_.node(a).plan.lend;
      if (!outer) continue;
      reserved_[c] = std::max<int64_t>(0, n.plan.owned - got_sub_[c]);
      reserved_total_ += reserved_[c];
    }
  }

  // What of the reserve consumer c may not touch (all but its own subtree's).
  int64_t ReservedAgainst(int c) const {
    int64_t r = reserved_total_;
    for (int a = c; a > 0; a = tree_.node(a).parent) r -= reserved_[a];
    return r;
  }

  void Report() {
    int nc = tree_.size();
    std::vector<int64_t> alloc(nc, 0), demand = own_demand_;
    std::vector<int64_t> pending(nc, 0);
    for (size_t j = 0; j < w_.size(); ++j) {
      int c = job(j).consumer;
      alloc[c] += w_[j].cur * Gpw(j);
      if (w_[j].cur == 0) {
        ++pending[c];
        out_.pending.push_back(
            {job(j).id, w_[j].reason.empty() ? "waiting for the next cycle" : w_[j].reason, w_[j].kind});
      }
    }
    for (int c = nc - 1; c > 0; --c) {
      int p = tree_.node(c).parent;
      alloc[p] += alloc[c];
      demand[p] += demand[c];
      pending[p] += pending[c];
    }
    out_.consumers.resize(nc);
    for (int c = 0; c < nc; ++c) {
      ConsumerUsage& u = out_.consumers[c];
      int64_t owned = c == 0 ? capacity_ : tree_.node(c).plan.owned;
      u.demand = demand[c];
      u.entitlement = ent_[c];
      u.allocated = alloc[c];
      u.borrowed = std::max<int64_t>(0, alloc[c] - owned);
      u.lent = tree_.node(c).plan.lend || c == 0 ? std::max<int64_t>(0, owned - alloc[c]) : 0;
      u.pending = pending[c];
    }
  }

  const ClusterState& s_;
  const ConsumerTree& tree_;
  TimePoint now_;
  const ElasticOptions& opt_;
  std::unordered_map<std::string, TimePoint>& owed_since_;
  HostPool pool_;
  std::vector<Work> w_;
  std::vector<double> left_, weight_;  // per job: work left and weight (WeighRemainingWork)
  Decisions out_;

  int64_t capacity_ = 0;
  int64_t avail_ = 0;
  bool overdue_ = false;
  std::vector<int64_t> own_demand_, holding_, hold_sub_, ent_, own_ent_, got_, got_sub_;
  std::vector<bool> owed_;
  std::vector<int> top_pending_priority_;
  std::vector<std::vector<int>> by_consumer_;
  std::vector<int> consumer_order_;
  std::vector<int> order_;  // every job: consumers by deficit, then job order
  std::map<std::tuple<int64_t, int64_t, int64_t>, bool> fits_;
  std::vector<int64_t> reserved_;
  int64_t reserved_total_ = 0;
};

}  // namespace

Decisions ElasticPolicy::Decide(const ClusterState& state, TimePoint now) {
  return Cycle(state, now, options_, owed_since_).Run();
}

}  // namespace drover::sched

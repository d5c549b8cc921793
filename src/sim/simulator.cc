#include "sim/simulator.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>

namespace drover::sim {
namespace {

std::vector<int> PerNode(const sched::Placement& p) {
  std::vector<int> out;
  for (const sched::HostSlot& s : p) out.push_back(s.workers);
  return out;
}

// Owed GPU-seconds per consumer (see ConsumerFairness).
class FairnessMeter {
 public:
  FairnessMeter(const ConsumerTree& tree) : tree_(tree), since_(tree.size()), owed_(tree.size(), 0) {}

  void Observe(double now, double dt, const std::vector<int64_t>& demand, const std::vector<int64_t>& held,
               const std::vector<int64_t>& smallest_pending) {
    int n = tree_.size();
    std::vector<bool> borrowing(n);
    for (int c = 1; c < n; ++c) borrowing[c] = tree_.IsLeaf(c) && held[c] > tree_.node(c).plan.owned;
    for (int c = 1; c < n; ++c) {
      if (!tree_.IsLeaf(c)) continue;
      int64_t gap = std::min(demand[c], tree_.node(c).plan.owned) - held[c];
      bool usable = gap > 0 && smallest_pending[c] > 0 && smallest_pending[c] <= gap;
      bool others_borrow = false;
      for (int d = 1; d < n && !others_borrow; ++d) others_borrow = d != c && borrowing[d];
      // The grace period runs from when GPUs were both owed and held by a borrower.
      if (!usable || !others_borrow) {
        since_[c].reset();
        continue;
      }
      if (!since_[c]) since_[c] = now;
      if (now - *since_[c] >= tree_.node(c).plan.reclaim_grace) owed_[c] += gap * dt;
    }
  }
  double owed(int c) const { return owed_[c]; }

 private:
  const ConsumerTree& tree_;
  std::vector<std::optional<double>> since_;
  std::vector<double> owed_;
};

}  // namespace

SimResult Simulate(std::vector<SimJobSpec> jobs, const ConsumerTree& consumers, sched::Policy& policy,
                   const SimOptions& opt) {
  auto wall_start = std::chrono::steady_clock::now();
  std::stable_sort(jobs.begin(), jobs.end(), [](const SimJobSpec& a, const SimJobSpec& b) { return a.submit < b.submit; });

  SimResult result;
  result.policy = policy.name();
  result.cluster_gpus = opt.nodes * opt.gpus_per_node;
  int nc = consumers.size();
  for (int c = 0; c < nc; ++c) result.consumers.push_back(consumers.node(c).path);

  sched::ClusterState state;
  state.consumers = consumers;
  for (int h = 0; h < opt.nodes; ++h) {
    state.hosts.push_back({"node" + std::to_string(h), {opt.gpus_per_node, 1'000'000, 1 << 30}, true});
  }

  std::vector<sched::Placement> placement(jobs.size());
  std::vector<size_t> active;  // indices of submitted, unfinished jobs
  size_t next = 0, finished = 0;
  std::vector<double> decide_ms;
  FairnessMeter fairness(consumers);
  double now = opt.start_time, last_progress = now;
  double round_end = now + opt.round;
  const bool on_events = opt.reaction > 0;
  // What the last decision left, held until the next one (FairnessMeter).
  struct Held {
    double since = 0;
    std::vector<int64_t> demand, held, smallest_pending;
  };
  std::optional<Held> last;
  // Admits the jobs submitted by `now`; whether there were any.
  auto admit = [&] {
    const size_t before = next;
    for (; next < jobs.size() && jobs[next].submit <= now; ++next) active.push_back(next);
    return next > before;
  };
  auto account = [&](double until) {
    if (last && opt.fairness) {
      fairness.Observe(last->since, until - last->since, last->demand, last->held, last->smallest_pending);
    }
    last.reset();
  };

  while (finished < jobs.size() && now - opt.start_time < opt.max_time) {
    // Run to the end of the round, or (on events) to the first submission
    // or completion in it, completions noticed within `reaction` seconds.
    for (bool event = false; !event;) {
      double until = round_end;
      if (on_events) {
        until = std::min(until, now + opt.reaction);
        if (next < jobs.size() && jobs[next].submit > now) until = std::min(until, jobs[next].submit);
      }
      for (size_t i : active) jobs[i].model->Step(now, until - now);
      now = until;
      std::erase_if(active, [&](size_t i) {
        if (!jobs[i].model->finished()) return false;
        ++finished;
        event = true;
        return true;
      });
      if (admit()) event = true;
      if (now >= round_end) {
        round_end += opt.round;
        break;
      }
    }
    if (active.empty() && next < jobs.size()) {
      // Nothing to schedule: jump to the next submission (on events), or to
      // the last round boundary before it, so the next round admits it.
      account(now);
      if (on_events) {
        now = std::max(now, jobs[next].submit);
        round_end = now + opt.round;
        admit();
      } else {
        double rounds = std::ceil((jobs[next].submit - now) / opt.round) - 1;
        if (rounds > 0) now += rounds * opt.round;
        round_end = now + opt.round;
        continue;
      }
    }

    state.jobs.clear();
    state.jobs.reserve(active.size());
    for (size_t i : active) {
      const SimJobSpec& s = jobs[i];
      sched::JobState j;
      j.id = i;
      j.consumer = s.consumer;
      j.workers = s.workers;
      j.per_worker = {1, 0, 0};
      j.submit_time = s.submit;
      j.attained_service = s.model->attained_service();
      j.placement = placement[i];
      if (s.use_profile) {
        j.speedup = s.model->Speedup(s.workers.max);
        j.remaining_work = s.model->RemainingWork();
      }
      j.resize_pause = s.resize_pause;
      state.jobs.push_back(std::move(j));
    }
    auto t0 = std::chrono::steady_clock::now();
    sched::Decisions d = policy.Decide(state, now);
    decide_ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    for (const sched::Decision& c : d.changes) {
      placement[c.job] = c.placement;
      jobs[c.job].model->Reallocate(now, PerNode(c.placement));
      ++result.placement_changes;
    }

    account(now);
    Held h{now, std::vector<int64_t>(nc, 0), std::vector<int64_t>(nc, 0), std::vector<int64_t>(nc, 0)};
    TimelineSample sample{now, std::vector<int>(nc, 0)};
    for (size_t i : active) {
      int c = jobs[i].consumer;
      int gpus = sched::WorkerCount(placement[i]);
      h.held[c] += gpus;
      h.demand[c] += jobs[i].workers.max;
      if (gpus == 0 && (h.smallest_pending[c] == 0 || jobs[i].workers.min < h.smallest_pending[c])) {
        h.smallest_pending[c] = jobs[i].workers.min;
      }
    }
    for (int c = 0; c < nc; ++c) sample.gpus[c] = static_cast<int>(h.held[c]);
    result.timeline.push_back(std::move(sample));
    last = std::move(h);
    if (opt.progress && now - last_progress >= opt.progress_every) {
      opt.progress(now, static_cast<int>(finished), static_cast<int>(jobs.size()));
      last_progress = now;
    }
  }
  account(round_end);  // the last decision's state, held to the end of its round

  for (size_t i = 0; i < jobs.size(); ++i) {
    const SimJobSpec& s = jobs[i];
    JobOutcome o{s.name, s.kind, consumers.node(s.consumer).path, s.submit,
                 s.model->finished() ? s.model->completion_time() : -1.0, s.model->restarts(),
                 s.model->attained_service()};
    result.jobs.push_back(o);
  }
  result.Summarize();
  if (opt.fairness) {
    for (int c = 1; c < nc; ++c) {
      if (!consumers.IsLeaf(c)) continue;
      ConsumerFairness f{consumers.node(c).path, consumers.node(c).plan.owned};
      double sum = 0;
      for (const JobOutcome& o : result.jobs) {
        if (o.consumer != f.consumer) continue;
        ++f.jobs;
        f.gpu_seconds += o.gpu_seconds;
        if (o.finished()) {
          ++f.finished;
          sum += o.jct();
        }
      }
      f.mean_jct = f.finished ? sum / f.finished : 0;
      f.owed_gpu_seconds = fairness.owed(c);
      result.fairness.push_back(f);
    }
  }
  result.decide_p50_ms = Quantile(decide_ms, 0.5);
  result.decide_p95_ms = Quantile(decide_ms, 0.95);
  result.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  return result;
}

}  // namespace drover::sim

// ClusterModel, runtime side: what workers' training runtimes post about
// themselves (heartbeat, readiness, progress, resize pauses, regroup
// requests), and workers that stop posting.
#include <algorithm>
#include <cstdio>
#include <iterator>
#include <set>

#include "server/cluster_model.h"
#include "server/model_util.h"

namespace drover::server {

using namespace model_util;

Result<std::pair<Job*, store::WorkerRecord*>> ClusterModel::Member(JobId id, int rank) {
  Job* job = MutableJob(id);
  if (!job) return NotFound("job " + std::to_string(id) + " does not exist");
  auto it = std::find_if(job->workers.begin(), job->workers.end(),
                         [&](const auto& w) { return w.rank == rank && w.state != WorkerState::kExited; });
  if (it == job->workers.end()) {
    return NotFound("worker " + std::to_string(rank) + " of job " + std::to_string(id) + " is not a member");
  }
  return std::pair<Job*, store::WorkerRecord*>{job, &*it};
}

namespace {

sched::BatchLimits LimitsOf(const store::ProfileRecord& p) {
  // drover-train keeps its global batch whatever the world size, unless in
  // its adaptive mode; either way it accumulates above its micro-batch itself.
  sched::BatchLimits l;
  l.init_batch = p.init_batch;
  l.adaptive = p.max_batch > p.init_batch;
  l.max_batch = l.max_local = l.adaptive ? p.max_batch : p.init_batch;
  l.min_local = 1;
  return l;
}

// A rank's measured steps into the job's model and its stored profile (which
// the caller creates at the first, with the prior the job starts from).
void ObservePerf(Job& job, const api::StepPerf& perf, int world, std::optional<int64_t> epoch) {
  store::ProfileRecord& prof = *job.rec.progress.profile;
  if (prof.init_batch <= 0) prof.init_batch = perf.global_batch;
  if (const double max = perf.max_batch.value_or(0); max != prof.max_batch) {
    prof.max_batch = max;
    job.goodput.reset();  // other limits: rebuilt from the record below
  }
  sched::GoodputModel* model = job.Goodput();
  std::set<std::string> hosts;
  for (const auto& w : job.workers) {
    if (w.state != WorkerState::kExited) hosts.insert(w.host);
  }
  model->Observe({std::max<int>(1, static_cast<int>(hosts.size())), world, perf.local_batch, perf.step_s,
                  perf.compute_s});
  if (perf.local_grad_sqr && perf.global_grad_sqr) {
    model->ObserveNoise(sched::EstimateNoise(*perf.local_grad_sqr, *perf.global_grad_sqr, perf.local_batch,
                                             perf.global_batch, prof.init_batch),
                        perf.global_batch, epoch);
  }
  prof.points.clear();
  for (const auto& [o, count] : model->Points()) {
    prof.points.push_back({o.nodes, o.replicas, o.local_batch, o.step_time, o.compute_time, count});
  }
  prof.grad_sqr = model->noise().sqr;
  prof.grad_var = model->noise().var;
  prof.noise_batch = model->noise_scaling().at_batch;
}

}  // namespace

sched::GoodputModel* Job::Goodput() const {
  if (!rec.progress.profile || rec.progress.profile->init_batch <= 0) return nullptr;
  if (!goodput) {
    const store::ProfileRecord& p = *rec.progress.profile;
    if (p.prior) {
      const store::PriorRecord& r = *p.prior;
      goodput.emplace(LimitsOf(p), sched::ThroughputParams{r.a_grad, r.b_grad, r.a_local, r.b_local, r.a_node,
                                                           r.b_node, r.gamma},
                      /*learned_prior=*/true);
    } else {
      goodput.emplace(LimitsOf(p));
    }
    std::vector<std::pair<sched::StepObservation, int64_t>> points;
    for (const store::PerfPointRecord& r : p.points) {
      points.push_back({{r.nodes, r.replicas, r.local_batch, r.step_s, r.compute_s}, r.count});
    }
    goodput->Restore(points, {p.grad_sqr, p.grad_var}, p.noise_batch);
  }
  return &*goodput;
}

std::optional<store::PriorRecord> ClusterModel::PriorFor(const Job& job) const {
  for (auto it = jobs_.rbegin(); it != jobs_.rend(); ++it) {
    const Job& other = it->second;
    if (other.rec.id == job.rec.id || other.rec.consumer != job.rec.consumer || other.rec.argv != job.rec.argv ||
        other.rec.env != job.rec.env) {
      continue;
    }
    sched::GoodputModel* model = other.Goodput();
    if (!model || !model->Informative()) continue;
    const sched::ThroughputParams& p = model->Params();
    return store::PriorRecord{other.rec.id, p.a_grad, p.b_grad, p.a_local, p.b_local, p.a_node, p.b_node, p.gamma};
  }
  return std::nullopt;
}

std::vector<double> Job::Speedup(int per_host) const {
  sched::GoodputModel* model = Goodput();
  return model ? model->Profile(rec.workers.max, per_host) : std::vector<double>{};
}

double Job::RemainingWork() const {
  sched::GoodputModel* model = Goodput();
  if (!model || !rec.progress.samples_left || model->points() == 0) return 0;
  const double rate = model->Best(1, 1).samples_per_s;
  return rate > 0 ? *rec.progress.samples_left / rate : 0;
}

Result<int64_t> ClusterModel::ReportWorkerStatus(JobId id, int rank, const WorkerStatus& s, double now) {
  auto member = Member(id, rank);
  if (!member.ok()) return member.status();
  auto [job, it] = *member;
  WorkerContact& c = job->contacts[rank];
  if (c.generation != it->generation) c = {it->generation, now, false};  // a new incarnation starts not ready
  c.last_status = now;
  // A worker joins no generation older than the one it was started at: an
  // older one comes from the previous incarnation, still being stopped.
  if (s.ready && s.generation >= it->generation) c.ready = true;
  if (s.step && s.generation >= it->generation) c.joined = true;
  if (s.port) c.port = *s.port;

  Progress& p = job->rec.progress;
  const Progress before = p;
  if (!s.step || !p.step || *s.step >= *p.step) {  // a lagging rank does not move the step back
    if (s.step) p.step = s.step;
    if (s.loss) p.loss = s.loss;
    if (s.samples_left) p.samples_left = s.samples_left;
  }
  if (s.epoch) p.epoch = s.epoch;
  if (s.samples_per_s) p.samples_per_s = s.samples_per_s;
  if (s.world_size) p.world_size = s.world_size;
  // One rank's measurements stand for the job's (all ranks step together).
  if (s.perf && s.world_size && it->rank == 0 && s.generation >= it->generation) {
    // The job's first measured step: it starts from an earlier run of the same thing, if one has shown enough.
    if (!p.profile) p.profile.emplace().prior = PriorFor(*job);
    ObservePerf(*job, *s.perf, *s.world_size, s.epoch);
  }

  if (s.rescale) {
    auto& list = job->rec.rescales;
    auto r = std::find_if(list.begin(), list.end(),
                          [&](const Rescale& x) { return !x.pause_ms && x.to == s.rescale->to; });
    if (r == list.end()) {
      AddRescale(*job, {now, s.rescale->from, s.rescale->to, s.rescale->pause_ms});
    } else {
      // The workers regroup once, from -> to, where the scheduler may have
      // resized in steps meanwhile (2 -> 3 -> 4 as another job's workers
      // leave one by one): the unpaused steps that chain back to `from`
      // become the one resize the workers made.
      auto first = r;
      while (first->from != s.rescale->from && first != list.begin() && !std::prev(first)->pause_ms &&
             std::prev(first)->to == first->from) {
        --first;
      }
      if (first->from == s.rescale->from && first != r) {
        first->to = r->to;
        r = std::prev(list.erase(std::next(first), std::next(r)));
      }
      r->pause_ms = s.rescale->pause_ms;
    }
  }
  job->progress_unsaved = job->progress_unsaved || !(p == before) || s.rescale;  // resizes change only with s.rescale
  return job->rec.generation;
}

int ClusterModel::FlushProgress(store::WriteBatch* batch, std::optional<JobId> only) {
  int n = 0;
  for (auto& [id, job] : jobs_) {
    if (!job.progress_unsaved || (only && id != *only)) continue;
    Persist(job, batch);
    ++n;
  }
  return n;
}

Result<int64_t> ClusterModel::Regroup(JobId id, int64_t generation, const std::string& who, double now,
                                      store::WriteBatch* batch) {
  Job* job = MutableJob(id);
  if (!job) return NotFound("job " + std::to_string(id) + " does not exist");
  if (job->rec.generation == generation && !IsTerminal(job->rec.state)) {
    ++job->rec.generation;
    Event(*job, "regroup",
          who + " asked for a new group after generation " + std::to_string(generation) +
              " (its group failed, or left out newcomers still starting)",
          now, batch);
    Persist(*job, batch);
  }
  return job->rec.generation;
}

int ClusterModel::CheckWorkers(double now, double timeout, store::WriteBatch* batch) {
  int failed = 0;
  for (auto& [id, job] : jobs_) {
    std::erase_if(job.contacts, [&](const auto& kv) {  // incarnations that are gone
      auto w = std::find_if(job.workers.begin(), job.workers.end(), [&](const auto& w) { return w.rank == kv.first; });
      return w == job.workers.end() || w->generation != kv.second.generation;
    });
    std::vector<int> ranks;
    for (const auto& w : job.workers) ranks.push_back(w.rank);
    for (int rank : ranks) {
      // Looked up again each time: failing one worker may restart or shrink the job.
      auto w = std::find_if(job.workers.begin(), job.workers.end(), [&](const auto& w) { return w.rank == rank; });
      const WorkerContact* c = w == job.workers.end() ? nullptr : job.Contact(*w);
      if (!c || w->state == WorkerState::kExited || now - c->last_status <= timeout) continue;
      char silent[32];
      std::snprintf(silent, sizeof silent, "%.1fs", now - c->last_status);
      std::string why = "worker " + std::to_string(rank) + " on " + w->host + " sent no heartbeat for " + silent;
      if (WorkerUnresponsive(id, rank, why, now, batch).ok()) ++failed;
    }
  }
  return failed;
}

Status ClusterModel::WorkerUnresponsive(JobId id, int rank, const std::string& why, double now,
                                        store::WriteBatch* batch) {
  auto member = Member(id, rank);
  if (!member.ok()) return member.status();
  OnWorkerFailed(*member->first, rank, 128 + 9, why, now, batch);  // as if killed: its agent stops it
  return Status::Ok();
}

}  // namespace drover::server

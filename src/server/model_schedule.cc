// ClusterModel, scheduler side: the state sched::Policy decides on, and
// applying its decisions in two phases (every release before any placement),
// with GPUs and a MASTER_PORT for each job's workers.
#include <algorithm>
#include <set>

#include "server/cluster_model.h"
#include "server/model_util.h"

namespace drover::server {

using namespace model_util;

void ClusterModel::AssignMasterPort(Job& job) {
  const bool running = !job.workers.empty() && !IsTerminal(job.rec.state);
  if (!running) {
    job.rec.master_port = 0;
    return;
  }
  if (job.rec.master_port) return;
  std::set<int> held;
  for (const auto& [id, other] : jobs_) {
    if (other.rec.master_port) held.insert(other.rec.master_port);
  }
  // The lowest free port above the last one given, so a port just freed is not reused at once.
  for (int k = 0; k < kMasterPorts; ++k) {
    int port = kMasterPortBase + (next_port_ + k) % kMasterPorts;
    if (!held.count(port)) {
      job.rec.master_port = port;
      next_port_ = (port - kMasterPortBase + 1) % kMasterPorts;
      return;
    }
  }
  job.rec.master_port = kMasterPortBase + static_cast<int>(job.rec.id % kMasterPorts);  // all taken: share one
}

std::vector<int> ClusterModel::FreeGpus(const std::string& host) const {
  auto h = hosts_.find(host);
  if (h == hosts_.end()) return {};
  std::vector<bool> used(static_cast<size_t>(std::max<int64_t>(h->second.rec.capacity.gpus, 0)), false);
  for (const auto& [id, job] : jobs_) {
    for (const auto& w : job.workers) {
      if (w.host != host || w.state == WorkerState::kExited) continue;
      for (int g : w.gpus) {
        if (g >= 0 && static_cast<size_t>(g) < used.size()) used[g] = true;
      }
    }
  }
  std::vector<int> out;
  for (size_t g = 0; g < used.size(); ++g) {
    if (!used[g]) out.push_back(static_cast<int>(g));
  }
  return out;
}

void ClusterModel::AccrueService(double now) {
  double dt = std::max(0.0, now - last_accrual_);
  last_accrual_ = now;
  for (auto& [id, job] : jobs_) {
    if (job.rec.state == kRunning || job.rec.state == kStarting) {
      job.rec.attained_service += dt * static_cast<double>(job.workers.size() * job.rec.per_worker.gpus);
    }
  }
}

namespace {

// Workers of `per_worker`'s GPUs a host of `host_gpus` takes, at least 1.
int WorkersOn(int64_t host_gpus, const Resources& per_worker) {
  const int64_t n = per_worker.gpus > 0 ? host_gpus / per_worker.gpus : 1;
  return static_cast<int>(std::clamp<int64_t>(n, 1, 1 << 16));
}

// The mean pause of the job's latest measured resizes, in seconds; 0 when none was measured.
double MeasuredResizePause(const store::JobRecord& r) {
  double sum = 0;
  int n = 0;
  for (auto it = r.rescales.rbegin(); it != r.rescales.rend() && n < 5; ++it) {
    if (it->pause_ms) sum += *it->pause_ms / 1000, ++n;
  }
  return n ? sum / n : 0;
}

}  // namespace

int64_t ClusterModel::MaxHostGpus() const {
  int64_t most = 0;
  for (const auto& [name, h] : hosts_) most = std::max(most, h.rec.capacity.gpus);
  return most;
}

std::map<std::string, int64_t> ClusterModel::GpusInUse() const {
  std::map<std::string, int64_t> used;
  for (const auto& [id, j] : jobs_) {
    for (const auto& w : j.workers) {
      if (w.state != WorkerState::kExited) used[w.host] += j.rec.per_worker.gpus;
    }
  }
  return used;
}

int ClusterModel::WorkersPerHost(const Resources& per_worker) const { return WorkersOn(MaxHostGpus(), per_worker); }

int ClusterModel::Schedule(sched::Policy& policy, double now, store::WriteBatch* batch) {
  AccrueService(now);
  sched::ClusterState state;
  state.consumers = plan_;
  std::vector<std::string> names;
  std::map<std::string, int> index;
  for (const auto& [name, h] : hosts_) {
    index[name] = static_cast<int>(names.size());
    names.push_back(name);
    state.hosts.push_back({name, h.rec.capacity, h.rec.state == "up" && !h.rec.cordoned, h.in_doubt.empty()});
  }
  const int64_t host_gpus = MaxHostGpus();  // the profiles' node size, once per cycle
  std::map<JobId, std::string> backing_off;
  for (const auto& [id, job] : jobs_) {
    if (IsTerminal(job.rec.state)) continue;
    const int alive = job.Alive();
    // An elastic job backing off after failures starts or grows no workers until the backoff ends.
    const double backoff = job.rec.workers.rigid() ? 0 : BackoffUntil(job.rec);
    if (now < backoff && alive == 0) {
      backing_off[id] = "backing off after " + Plural(job.rec.failures, "worker failure") + " in a row (" +
                        std::to_string(job.rec.failures) + " of " + std::to_string(job.rec.max_restarts) +
                        " allowed): starts again in " + Secs(backoff - now);
      continue;
    }
    sched::JobState j;
    j.id = id;
    j.consumer = std::max(0, plan_.Find(job.rec.consumer));
    j.priority = job.rec.priority;
    j.workers = job.rec.workers;
    // A worker that exited with 0 means the job is finishing: it gets no more.
    const bool finishing = std::any_of(job.workers.begin(), job.workers.end(),
                                       [](const auto& w) { return w.state == WorkerState::kExited && w.exit_code == 0; });
    if ((finishing || now < backoff) && alive > 0) j.workers = WorkerBounds{std::min(j.workers.min, alive), alive};
    if (auto cap = caps_.find(id); cap != caps_.end() && cap->second < j.workers.max) {
      j.workers = WorkerBounds{std::min(j.workers.min, cap->second), cap->second};
    }
    j.per_worker = job.rec.per_worker;
    j.speedup = job.Speedup(WorkersOn(host_gpus, job.rec.per_worker));
    j.submit_time = job.rec.submit_time;
    j.attained_service = job.rec.attained_service;
    j.resize_pause = MeasuredResizePause(job.rec);
    j.remaining_work = job.RemainingWork();
    std::map<int, int> per_host;
    for (const auto& w : job.workers) {
      if (w.state != WorkerState::kExited) ++per_host[index.count(w.host) ? index[w.host] : -1];
    }
    for (auto [h, n] : per_host) {
      if (h >= 0) j.placement.push_back({h, n});
    }
    state.jobs.push_back(std::move(j));
  }
  last_ = policy.Decide(state, now);
  pending_reason_.clear();
  for (const sched::PendingReason& p : last_.pending) pending_reason_[p.job] = p;
  for (auto& [id, why] : backing_off) pending_reason_[id] = {id, std::move(why), sched::PendingKind::kBackoff};
  // Every decision releases what it gives up before any takes GPUs: a job
  // started ahead of the one it preempts must find that job's GPUs free.
  std::vector<Released> released;
  for (const sched::Decision& d : last_.changes) released.push_back(Release(d, names, now, batch));
  for (size_t k = 0; k < last_.changes.size(); ++k) Place(last_.changes[k], released[k], names, now, batch);
  return static_cast<int>(last_.changes.size());
}

ClusterModel::Released ClusterModel::Release(const sched::Decision& d, const std::vector<std::string>& host_names,
                                             double now, store::WriteBatch* batch) {
  Released out;
  Job* job = MutableJob(d.job);
  if (!job) return out;
  out.from = static_cast<int>(job->workers.size());
  if (d.action == sched::Action::kPreempt) {
    Requeue(*job, kPreempted, d.reason, now, batch);
    return out;
  }
  std::map<std::string, int> want;
  for (const sched::HostSlot& slot : d.placement) want[host_names[slot.host]] += slot.workers;
  // Remove the highest ranks on hosts that lose workers (and all on hosts not kept).
  std::map<std::string, int> have;
  for (const auto& w : job->workers) ++have[w.host];
  std::set<int> drop;
  for (auto it = job->workers.rbegin(); it != job->workers.rend(); ++it) {
    int& n = have[it->host];
    if (n > want[it->host]) {
      drop.insert(it->rank);
      --n;
    }
  }
  if (!drop.empty()) RemoveWorkers(*job, drop, batch);
  out.dropped = !drop.empty();
  return out;
}

void ClusterModel::Place(const sched::Decision& d, const Released& released,
                         const std::vector<std::string>& host_names, double now, store::WriteBatch* batch) {
  Job* job = MutableJob(d.job);
  if (!job || d.action == sched::Action::kPreempt) return;
  std::map<std::string, int> want, have;
  for (const sched::HostSlot& slot : d.placement) want[host_names[slot.host]] += slot.workers;
  for (const auto& w : job->workers) ++have[w.host];
  bool changed = released.dropped;
  int64_t generation = job->rec.generation + 1;
  int next_rank = job->workers.empty() ? 0 : job->workers.back().rank + 1;
  for (const auto& [host, n] : want) {
    int add = n - have[host];
    std::vector<int> free = FreeGpus(host);
    for (int k = 0; k < add; ++k) {
      if (static_cast<int64_t>(free.size()) < job->rec.per_worker.gpus) {
        // The scheduler counted GPUs this host does not have free: never start a worker without its devices.
        Event(*job, "scale",
              "no free GPU on " + host + " for a new worker (the scheduler's view and the host's disagree); "
              "it is placed again next cycle",
              now, batch);
        break;
      }
      store::WorkerRecord w;
      w.job = job->rec.id;
      w.rank = next_rank++;
      w.host = host;
      w.generation = generation;
      w.state = WorkerState::kAssigned;
      w.gpus.assign(free.begin(), free.begin() + job->rec.per_worker.gpus);
      free.erase(free.begin(), free.begin() + job->rec.per_worker.gpus);
      job->workers.push_back(w);
      changed = true;
    }
  }
  if (!changed) return;
  job->rec.generation = generation;
  int to = static_cast<int>(job->workers.size());
  if (d.action == sched::Action::kStart) {
    SetState(*job, kStarting, "started on " + Plural(to, "worker") + " (" + Describe(job->workers) + ")", now, batch);
  } else {
    AddRescale(*job, {now, released.from, to});
    Event(*job, "scale", d.reason, now, batch);
  }
  Persist(*job, batch);
}

}  // namespace drover::server

// ClusterModel, agents' side: hosts registering, each agent's sync (its
// workers' pids and exits in, the workers it should run out), drains, and
// hosts that stop answering.
#include <algorithm>
#include <set>
#include <tuple>

#include "server/cluster_model.h"
#include "server/launch_env.h"
#include "server/model_util.h"

namespace drover::server {

using namespace model_util;

void ClusterModel::RegisterHost(const store::HostRecord& rec, const std::string& address, double now,
                                store::WriteBatch* batch) {
  Host& h = hosts_[rec.name];
  bool fresh = h.rec.name.empty();
  bool cordoned = h.rec.cordoned;  // an admin's drain outlives the agent's restart
  h.rec = rec;
  h.rec.cordoned = cordoned;
  h.rec.state = "up";
  h.rec.last_seen = now;
  if (fresh) h.rec.registered = now;
  h.address = address;
  batch->hosts.push_back(h.rec);
}

std::vector<DesiredWorker> ClusterModel::Sync(const std::string& host_name, const std::vector<WorkerReport>& report,
                                              double now, const WorkerEnvContext& ctx, store::WriteBatch* batch,
                                              double wait_s) {
  auto hit = hosts_.find(host_name);
  if (hit == hosts_.end()) return {};
  Host& host = hit->second;
  if (host.rec.state == "revoked") return {};  // its credential is gone; nothing it says counts
  host.rec.last_seen = now;
  host.synced = true;
  host.sync_wait_s = wait_s;
  host.in_doubt.clear();
  if (host.rec.state != "up") {
    host.rec.state = "up";
    batch->hosts.push_back(host.rec);
  }
  std::set<std::pair<JobId, int>> reported_running;
  for (const WorkerReport& r : report) {
    if (r.state == ProcessState::kStopping) continue;
    Job* job = MutableJob(r.key.job);
    if (!job) continue;
    auto it = std::find_if(job->workers.begin(), job->workers.end(), [&](const auto& w) {
      return w.rank == r.key.rank && static_cast<uint64_t>(w.generation) == r.key.generation && w.host == host_name;
    });
    if (it == job->workers.end()) continue;  // not wanted any more: the agent stops it
    if (r.state == ProcessState::kExited) {
      OnWorkerExit(*job, r, now, batch);
      continue;
    }
    reported_running.insert({r.key.job, r.key.rank});
    if (it->state != WorkerState::kRunning || it->pid != r.pid) {
      it->state = WorkerState::kRunning;
      it->pid = r.pid;
      bool all = std::all_of(job->workers.begin(), job->workers.end(),
                             [](const auto& w) { return w.state == WorkerState::kRunning; });
      if (all && job->rec.state == kStarting) {
        SetState(*job, kRunning, "all " + Plural(static_cast<int>(job->workers.size()), "worker") + " running", now,
                 batch);
      }
      Persist(*job, batch);
    }
  }
  // A worker the agent ran before but no longer reports is gone (the agent restarted).
  for (auto& [id, job] : jobs_) {
    for (const auto& w : std::vector<store::WorkerRecord>(job.workers)) {
      if (w.host == host_name && w.state == WorkerState::kRunning && !reported_running.count({id, w.rank})) {
        WorkerReport gone{{id, w.rank, static_cast<uint64_t>(w.generation)}, w.pid, ProcessState::kExited, 0, 9};
        OnWorkerExit(job, gone, now, batch);
      }
    }
  }
  return Desired(host_name, ctx);
}

std::vector<DesiredWorker> ClusterModel::Desired(const std::string& host_name, const WorkerEnvContext& ctx) const {
  std::vector<DesiredWorker> desired;
  for (const auto& [id, job] : jobs_) {
    if (IsTerminal(job.rec.state)) continue;
    const store::WorkerRecord* first = job.workers.empty() ? nullptr : &job.workers.front();
    int local = 0;
    for (const auto& w : job.workers) {
      if (w.host != host_name || w.state == WorkerState::kExited) continue;
      DesiredWorker d{{id, w.rank, static_cast<uint64_t>(w.generation)}, job.rec.argv, job.rec.env, w.gpus,
                      job.rec.per_worker.cpu_millis, job.rec.per_worker.memory_mib,
                      RunAs(job.rec.consumer, ctx)};
      auto rendezvous = hosts_.find(first->host);
      std::string master = rendezvous != hosts_.end() ? rendezvous->second.address : "";
      for (auto& [name, value] :
           LaunchEnvironment(job.rec, w, static_cast<int>(job.workers.size()), local++, master, ctx)) {
        d.env[name] = std::move(value);
      }
      // Where the worker's own host is reached: an inference replica listens there, for the router.
      if (auto self = hosts_.find(host_name); self != hosts_.end() && !self->second.address.empty()) {
        d.env["DROVER_HOST_ADDRESS"] = self->second.address;
      }
      desired.push_back(std::move(d));
    }
  }
  return desired;
}

std::string ClusterModel::HostAddress(const std::string& host) const {
  auto it = hosts_.find(host);
  return it == hosts_.end() ? "" : it->second.address;
}

bool ClusterModel::Placed(const std::string& host, JobId job, int rank) const {
  const Job* j = FindJob(job);
  return j && std::any_of(j->workers.begin(), j->workers.end(),
                          [&](const store::WorkerRecord& w) { return w.rank == rank && w.host == host; });
}

bool ClusterModel::NeedsChange(const std::string& host_name, const std::vector<WorkerReport>& report) const {
  std::set<std::tuple<JobId, int, int64_t>> running, wanted;
  for (const WorkerReport& r : report) {
    if (r.state == ProcessState::kExited) return true;
    if (r.state == ProcessState::kRunning) running.insert({r.key.job, r.key.rank, static_cast<int64_t>(r.key.generation)});
  }
  for (const auto& [id, job] : jobs_) {
    if (IsTerminal(job.rec.state)) continue;
    for (const auto& w : job.workers) {
      if (w.host == host_name && w.state != WorkerState::kExited) wanted.insert({id, w.rank, w.generation});
    }
  }
  return running != wanted;
}

Status ClusterModel::SetCordoned(const std::string& host, bool cordoned, double, store::WriteBatch* batch) {
  auto it = hosts_.find(host);
  if (it == hosts_.end()) return NotFound("host " + host + " does not exist; `drover hosts` lists them");
  if (it->second.rec.cordoned == cordoned) return Status::Ok();
  it->second.rec.cordoned = cordoned;
  batch->hosts.push_back(it->second.rec);
  return Status::Ok();
}

Status ClusterModel::HostLeaving(const std::string& host, double now, store::WriteBatch* batch) {
  auto it = hosts_.find(host);
  if (it == hosts_.end()) return NotFound("host " + host + " is not registered");
  it->second.rec.last_seen = now;
  if (it->second.rec.state != "down") {
    it->second.rec.state = "down";
    batch->hosts.push_back(it->second.rec);
  }
  return Status::Ok();
}

Status ClusterModel::SetRevoked(const std::string& host, bool revoked, double now, store::WriteBatch* batch) {
  auto it = hosts_.find(host);
  if (it == hosts_.end()) return NotFound("host " + host + " does not exist; `drover hosts` lists them");
  Host& h = it->second;
  if (!revoked && h.rec.state != "revoked") {
    return FailedPrecondition("host " + host + " is " + h.rec.state + ", not revoked: there is nothing to admit");
  }
  h.rec.state = revoked ? "revoked" : "down";
  h.rec.last_seen = now;
  h.in_doubt.clear();
  batch->hosts.push_back(h.rec);
  return Status::Ok();
}

int ClusterModel::CheckHosts(double now, double timeout, store::WriteBatch* batch) {
  int changed = 0;
  for (auto& [name, h] : hosts_) {
    if (h.rec.state != "up") continue;
    const double silent = now - h.rec.last_seen;
    if (silent > timeout) {
      h.rec.state = "down";
      h.in_doubt.clear();
      batch->hosts.push_back(h.rec);
      ++changed;
    } else if (h.synced && h.in_doubt.empty() && silent > h.sync_wait_s + kSyncSlackSeconds) {
      h.in_doubt = "missed a sync: none for " + Secs(silent) + " (its agent polls every " + Secs(h.sync_wait_s) + ")";
    }
  }
  return changed;
}

int ClusterModel::DoubtSilentPeers(JobId id, int rank, double now) {
  const Job* job = FindJob(id);
  if (!job) return 0;
  int n = 0;
  for (const auto& w : job->workers) {
    if (w.rank == rank || w.state == WorkerState::kExited) continue;
    const WorkerContact* c = job->Contact(w);
    if (!c || now - c->last_status <= kPeerSilenceSeconds) continue;  // never posted: still starting
    auto h = hosts_.find(w.host);
    if (h == hosts_.end() || h->second.rec.state != "up" || !h->second.in_doubt.empty()) continue;
    h->second.in_doubt = "worker " + std::to_string(w.rank) + " of job " + std::to_string(id) + " there posted nothing for " +
                         Secs(now - c->last_status) + " when worker " + std::to_string(rank) + " lost its group";
    ++n;
  }
  return n;
}

}  // namespace drover::server

#include "server/cluster_model.h"

#include <algorithm>
#include <cstdio>

#include "server/model_util.h"
#include "spec/plan_parser.h"

namespace drover::server {

using namespace model_util;


const WorkerContact* Job::Contact(const store::WorkerRecord& w) const {
  auto it = contacts.find(w.rank);
  return it != contacts.end() && it->second.generation == w.generation ? &it->second : nullptr;
}

double BackoffUntil(const store::JobRecord& job) {
  if (job.failures <= 0) return 0;
  double delay = kBackoffBaseSeconds;
  for (int k = 1; k < job.failures && delay < kBackoffCapSeconds; ++k) delay *= 2;
  return job.last_failure + std::min(delay, kBackoffCapSeconds);
}

int Job::Alive() const {
  return static_cast<int>(
      std::count_if(workers.begin(), workers.end(), [](const auto& w) { return w.state != WorkerState::kExited; }));
}

Status ClusterModel::Load(const store::Snapshot& snap, double now) {
  plan_ = ConsumerTree();
  plan_yaml_ = snap.plan_yaml;
  if (!plan_yaml_.empty()) {
    Result<ConsumerTree> tree = ParsePlan(plan_yaml_, "stored plan");
    if (!tree.ok()) return Internal("the stored plan no longer parses: " + tree.status().message());
    plan_ = std::move(tree).value();
  }
  jobs_.clear();
  hosts_.clear();
  next_id_ = std::max<JobId>(snap.next_job_id, 1);
  for (const store::JobRecord& r : snap.jobs) {
    jobs_[r.id].rec = r;
    next_id_ = std::max(next_id_, r.id + 1);
  }
  for (const store::WorkerRecord& w : snap.workers) {
    auto it = jobs_.find(w.job);
    if (it != jobs_.end()) it->second.workers.push_back(w);
  }
  for (auto& [id, job] : jobs_) {
    std::sort(job.workers.begin(), job.workers.end(),
              [](const auto& a, const auto& b) { return a.rank < b.rank; });
  }
  for (const store::HostRecord& h : snap.hosts) {
    Host host;
    host.rec = h;
    host.rec.last_seen = now;
    hosts_[h.name] = host;
  }
  last_accrual_ = now;
  return Status::Ok();
}

Status ClusterModel::Reload(const store::Snapshot& snap, double now) {
  std::map<std::string, Host> hosts = hosts_;
  std::map<JobId, Job> jobs = jobs_;
  DROVER_RETURN_IF_ERROR(Load(snap, now));
  for (auto& [name, h] : hosts_) {
    auto old = hosts.find(name);
    if (old == hosts.end()) continue;
    h.address = old->second.address;
    h.synced = old->second.synced;
    h.rec.last_seen = old->second.rec.last_seen;
  }
  for (auto& [id, job] : jobs_) {
    auto old = jobs.find(id);
    if (old == jobs.end()) continue;
    // Status posts since the last flush are newer than the store's copy.
    job.rec.progress = old->second.rec.progress;
    job.rec.rescales = old->second.rec.rescales;
    job.contacts = old->second.contacts;
    job.progress_unsaved = old->second.progress_unsaved;
  }
  return Status::Ok();
}

namespace {

std::string Line(const store::JobRecord& r) {
  std::string env;
  for (const auto& [k, v] : r.env) env += k + "=" + v + ";";
  std::string argv;
  for (const auto& a : r.argv) argv += a + "\x1f";
  char nums[256];
  std::snprintf(nums, sizeof nums, "prio %d workers %d..%d res %lld/%lld/%lld restarts %d/%d failures %d at %.17g "
                "rank %d times %.17g %.17g %.17g gen %lld port %d",
                r.priority, r.workers.min, r.workers.max, static_cast<long long>(r.per_worker.gpus),
                static_cast<long long>(r.per_worker.cpu_millis), static_cast<long long>(r.per_worker.memory_mib),
                r.restarts, r.max_restarts, r.failures, r.last_failure, r.failed_rank, r.submit_time,
                r.start_time, r.end_time, static_cast<long long>(r.generation), r.master_port);
  return "job " + std::to_string(r.id) + " " + r.name + " " + r.consumer + " " + r.user + " " + api::Name(r.state) + " (" +
         r.reason + ") " + nums + " argv " + argv + " env " + env + " spec " + r.spec_yaml;
}

std::string Line(const store::WorkerRecord& w) {
  return "worker " + std::to_string(w.job) + "/" + std::to_string(w.rank) + " on " + w.host + " gpus " +
         Joined(w.gpus) + " gen " + std::to_string(w.generation) + " pid " + std::to_string(w.pid) + " " + api::Name(w.state) +
         " exit " + std::to_string(w.exit_code);
}

std::set<std::string> Lines(const ClusterModel& m) {
  std::set<std::string> out;
  out.insert("plan " + m.plan_yaml());
  out.insert("next job id " + std::to_string(m.next_job_id()));
  for (const auto& [id, job] : m.jobs()) {
    out.insert(Line(job.rec));
    for (const auto& w : job.workers) out.insert(Line(w));
  }
  for (const auto& [name, h] : m.hosts()) {
    out.insert("host " + name + " " + h.rec.capacity.ToString() + " " + h.rec.state + (h.rec.cordoned ? " drained" : "") +
               " gpus " + h.rec.gpus_json);
  }
  return out;
}

// Every worker starts over: the progress they posted goes, what the job's
// steps showed of its speed (its learned profile) stays.
void StartOver(Job& job) {
  std::optional<store::ProfileRecord> profile = std::move(job.rec.progress.profile);
  job.rec.progress = {};
  job.rec.progress.profile = std::move(profile);
}

}  // namespace

std::string ClusterModel::DurableDiff(const ClusterModel& a, const ClusterModel& b) {
  std::set<std::string> la = Lines(a), lb = Lines(b);
  std::string diff;
  for (const auto& l : la) {
    if (!lb.count(l)) diff += "- " + l + "\n";
  }
  for (const auto& l : lb) {
    if (!la.count(l)) diff += "+ " + l + "\n";
  }
  return diff;
}

Status ClusterModel::CheckPlan(const ConsumerTree& tree) const {
  for (const auto& [id, job] : jobs_) {
    if (!IsTerminal(job.rec.state) && tree.Find(job.rec.consumer) < 0) {
      return FailedPrecondition("the new plan drops consumer " + job.rec.consumer + ", which job " +
                                std::to_string(id) + " (" + api::Name(job.rec.state) + ") uses; cancel it or keep the consumer");
    }
  }
  return Status::Ok();
}

Status ClusterModel::ApplyPlan(const ConsumerTree& tree, const std::string& yaml, store::WriteBatch* batch) {
  DROVER_RETURN_IF_ERROR(CheckPlan(tree));
  plan_ = tree;
  plan_yaml_ = yaml;
  batch->plan_yaml = yaml;
  return Status::Ok();
}

Result<std::string> ClusterModel::ResolveConsumer(const Principal& who, const std::string& given) const {
  std::string path = given.empty() ? "/" : given;
  if (path == "/" && !MayUse(who, "/")) {
    // No consumer given (or the root, which only admins use): the user's only one, else say which.
    if (who.consumers.size() != 1) {
      std::string mine;
      for (const auto& c : who.consumers) mine += (mine.empty() ? "" : ", ") + c;
      return InvalidArgument("consumer: required; " + who.name + " may submit to " +
                             (mine.empty() ? std::string("no consumer yet (ask an admin)") : mine));
    }
    path = who.consumers.front();
  }
  if (plan_.Find(path) < 0) return NotFound("consumer " + path + " does not exist; `drover consumers` lists them");
  if (!MayUse(who, path)) return PermissionDenied("user " + who.name + " may not submit to consumer " + path);
  return path;
}

Result<JobId> ClusterModel::Submit(const ParsedJob& parsed, const std::string& yaml, const Principal& who, double now,
                                   store::WriteBatch* batch) {
  const JobSpec& spec = parsed.spec;
  if (!spec.user.empty() && spec.user != who.name && who.role != Role::kAdmin) {
    return PermissionDenied("user: " + who.name + " may not submit as " + spec.user +
                            " (only an admin may); leave the field out");
  }
  Result<std::string> resolved = ResolveConsumer(who, spec.consumer);
  if (!resolved.ok()) return resolved.status();
  const std::string& path = *resolved;
  const int consumer = plan_.Find(path);
  if (parsed.argv.empty()) return InvalidArgument("command: a job needs a command to run");
  // Refuse what could never run, with the reason.
  int64_t need = spec.workers.min * spec.per_worker.gpus;
  for (int a = consumer; a > 0; a = plan_.node(a).parent) {
    const ConsumerNode& n = plan_.node(a);
    if (n.plan.limit && need > *n.plan.limit) {
      return InvalidArgument("workers.min x gpus = " + std::to_string(need) + " GPUs, above the limit of " +
                             std::to_string(*n.plan.limit) + " on consumer " + n.path);
    }
  }
  if (!hosts_.empty()) {
    int64_t total = 0;
    const Host* largest = nullptr;
    bool fits = false;
    for (const auto& [name, h] : hosts_) {
      total += h.rec.capacity.gpus;
      fits = fits || h.rec.capacity.Fits(spec.per_worker);
      if (!largest || h.rec.capacity.gpus > largest->rec.capacity.gpus) largest = &h;
    }
    if (!fits) {
      return InvalidArgument("resources: no host can hold one worker of " + spec.per_worker.ToString() +
                             "; the largest host has " + largest->rec.capacity.ToString());
    }
    if (need > total) {
      return InvalidArgument("workers.min x gpus = " + std::to_string(need) + " GPUs, but the cluster has only " +
                             std::to_string(total));
    }
  }
  Job job;
  store::JobRecord& r = job.rec;
  r.id = next_id_++;
  r.name = spec.name;
  r.consumer = plan_.node(consumer).path;
  r.user = who.role == Role::kAdmin && !spec.user.empty() ? spec.user : who.name;
  r.priority = spec.priority;
  r.workers = spec.workers;
  r.per_worker = spec.per_worker;
  r.argv = parsed.argv;
  r.env = parsed.env;
  r.max_restarts = parsed.max_restarts.value_or(spec.workers.rigid() ? 0 : kDefaultElasticFailures);
  r.state = kPending;
  r.submit_time = now;
  r.spec_yaml = yaml;
  JobId id = r.id;
  auto& stored = jobs_[id] = std::move(job);
  Event(stored, "state", "PENDING: submitted by " + stored.rec.user + " to " + stored.rec.consumer, now, batch);
  Persist(stored, batch);
  batch->next_job_id = next_id_;
  return id;
}

Status ClusterModel::Cancel(JobId id, const std::string& why, double now, store::WriteBatch* batch) {
  Job* job = MutableJob(id);
  if (!job) return NotFound("job " + std::to_string(id) + " does not exist");
  if (IsTerminal(job->rec.state)) {
    return FailedPrecondition("job " + std::to_string(id) + " has already ended (" + api::Name(job->rec.state) + ")");
  }
  RemoveAllWorkers(*job, batch);
  SetState(*job, kCancelled, why, now, batch);
  return Status::Ok();
}

Status ClusterModel::Update(JobId id, std::optional<int> priority, std::optional<WorkerBounds> bounds, double now,
                            store::WriteBatch* batch) {
  Job* job = MutableJob(id);
  if (!job) return NotFound("job " + std::to_string(id) + " does not exist");
  if (IsTerminal(job->rec.state)) {
    return FailedPrecondition("job " + std::to_string(id) + " has already ended (" + api::Name(job->rec.state) + ")");
  }
  if (bounds) {
    if (bounds->min < 1 || bounds->max < bounds->min) {
      return InvalidArgument("workers: need 1 <= min <= max, got min " + std::to_string(bounds->min) + ", max " +
                             std::to_string(bounds->max));
    }
    if (!Waiting(job->rec.state) && job->rec.workers.rigid() != bounds->rigid()) {
      return FailedPrecondition("job " + std::to_string(id) +
                                " is running: a rigid job cannot become elastic or the reverse until it is requeued");
    }
    if (!Waiting(job->rec.state) && job->rec.workers.rigid() && bounds->min != job->rec.workers.min) {
      return FailedPrecondition("job " + std::to_string(id) + " is a running rigid job: its size cannot change");
    }
    job->rec.workers = *bounds;
    if (static_cast<int>(job->workers.size()) > bounds->max) {
      std::set<int> extra;
      for (size_t k = bounds->max; k < job->workers.size(); ++k) extra.insert(job->workers[k].rank);
      int from = static_cast<int>(job->workers.size());
      RemoveWorkers(*job, extra, batch);
      AddRescale(*job, {now, from, bounds->max});
      ++job->rec.generation;
    }
    Event(*job, "update",
          "workers now " + std::to_string(bounds->min) + ".." + std::to_string(bounds->max), now, batch);
  }
  if (priority) {
    job->rec.priority = *priority;
    Event(*job, "update", "priority now " + std::to_string(*priority), now, batch);
  }
  Persist(*job, batch);
  return Status::Ok();
}

std::vector<JobId> ClusterModel::ActiveJobs(const std::string& user) const {
  std::vector<JobId> out;
  for (const auto& [id, job] : jobs_) {
    if (job.rec.user == user && !IsTerminal(job.rec.state)) out.push_back(id);
  }
  return out;
}

const Job* ClusterModel::FindJob(JobId id) const {
  auto it = jobs_.find(id);
  return it == jobs_.end() ? nullptr : &it->second;
}

Job* ClusterModel::MutableJob(JobId id) {
  auto it = jobs_.find(id);
  return it == jobs_.end() ? nullptr : &it->second;
}

std::string ClusterModel::PendingReason(JobId id) const {
  auto it = pending_reason_.find(id);
  return it == pending_reason_.end() ? "" : it->second.reason;
}

std::optional<sched::PendingKind> ClusterModel::PendingKindOf(JobId id) const {
  auto it = pending_reason_.find(id);
  if (it == pending_reason_.end()) return std::nullopt;
  return it->second.kind;
}

void ClusterModel::SetState(Job& job, JobState state, const std::string& why, double now,
                            store::WriteBatch* batch) {
  if (job.rec.state == state) return;
  job.rec.state = state;
  job.rec.reason = why;
  if (state == kStarting && job.rec.start_time == 0) job.rec.start_time = now;
  if (IsTerminal(state)) job.rec.end_time = now;
  Event(job, "state", api::Name(state) + (why.empty() ? std::string() : ": " + why), now, batch);
  Persist(job, batch);
}

void ClusterModel::Event(const Job& job, const std::string& type, const std::string& message, double now,
                         store::WriteBatch* batch) {
  batch->events.push_back({job.rec.id, now, type, message});
}

void ClusterModel::Persist(Job& job, store::WriteBatch* batch) {
  AssignMasterPort(job);  // every change of a job's workers is persisted: its port follows them
  job.progress_unsaved = false;
  auto same = [&](const store::JobRecord& r) { return r.id == job.rec.id; };
  std::erase_if(batch->jobs, same);
  batch->jobs.push_back(job.rec);
  std::erase_if(batch->workers, [&](const store::WorkerRecord& w) { return w.job == job.rec.id; });
  for (const auto& w : job.workers) batch->workers.push_back(w);
}

void ClusterModel::RemoveWorkers(Job& job, const std::set<int>& ranks, store::WriteBatch* batch) {
  std::erase_if(job.workers, [&](const store::WorkerRecord& w) {
    if (!ranks.count(w.rank)) return false;
    batch->removed_workers.push_back({job.rec.id, w.rank});
    return true;
  });
  Persist(job, batch);
}

void ClusterModel::RemoveAllWorkers(Job& job, store::WriteBatch* batch) {
  std::set<int> all;
  for (const auto& w : job.workers) all.insert(w.rank);
  RemoveWorkers(job, all, batch);
}

void ClusterModel::Requeue(Job& job, JobState state, const std::string& why, double now, store::WriteBatch* batch) {
  RemoveAllWorkers(job, batch);
  ++job.rec.generation;
  StartOver(job);
  SetState(job, state, why, now, batch);
}

void ClusterModel::RestartOrFail(Job& job, const std::string& why, double now, store::WriteBatch* batch) {
  if (job.rec.restarts < job.rec.max_restarts) {
    ++job.rec.restarts;
    ++job.rec.generation;
    StartOver(job);
    for (auto& w : job.workers) {
      w.generation = job.rec.generation;
      w.pid = 0;
      w.state = WorkerState::kAssigned;
      w.exit_code = 0;
    }
    Event(job, "restart",
          why + "; restarting all workers (restart " + std::to_string(job.rec.restarts) + " of " +
              std::to_string(job.rec.max_restarts) + ")",
          now, batch);
    SetState(job, kStarting, "restart " + std::to_string(job.rec.restarts), now, batch);
    Persist(job, batch);
    return;
  }
  RemoveAllWorkers(job, batch);
  SetState(job, kFailed, why + (job.rec.max_restarts ? "; no restarts left" : ""), now, batch);
}

void ClusterModel::OnWorkerExit(Job& job, const WorkerReport& r, double now, store::WriteBatch* batch) {
  const int rank = r.key.rank;
  auto it = std::find_if(job.workers.begin(), job.workers.end(), [&](const auto& w) { return w.rank == rank; });
  if (it == job.workers.end() || it->state == WorkerState::kExited) return;
  int code = r.signal ? 128 + r.signal : r.exit_code;
  std::string who = "worker " + std::to_string(rank) + " on " + it->host;
  if (code == 0) {
    it->state = WorkerState::kExited;
    it->exit_code = 0;
    Event(job, "worker", who + " exited with 0", now, batch);
    // Elastic training that reports through the runtime ends on every member
    // at the same step: a newcomer that has not joined yet would only start
    // the training over, alone. It is stopped instead.
    if (!job.rec.workers.rigid() && job.rec.progress.step) {
      std::set<int> unjoined;
      for (const auto& w : job.workers) {
        const WorkerContact* c = job.Contact(w);
        if (w.state != WorkerState::kExited && (!c || !c->joined)) unjoined.insert(w.rank);
      }
      if (!unjoined.empty()) {
        Event(job, "worker", Plural(static_cast<int>(unjoined.size()), "worker") +
                                 " that had not joined the training stopped: it has ended", now, batch);
        RemoveWorkers(job, unjoined, batch);
      }
    }
    bool all_done = std::all_of(job.workers.begin(), job.workers.end(),
                                [](const auto& w) { return w.state == WorkerState::kExited && w.exit_code == 0; });
    if (all_done) {
      RemoveAllWorkers(job, batch);
      SetState(job, kSucceeded, "all workers exited with 0", now, batch);
    } else {
      Persist(job, batch);
    }
    return;
  }
  OnWorkerFailed(job, rank, code,
                 who + (r.oom_killed ? " was killed: out of memory (its limit is " +
                                           std::to_string(job.rec.per_worker.memory_mib) + " MiB, the job's request)"
                        : r.signal   ? " was killed by signal " + std::to_string(r.signal)
                                     : " exited with " + std::to_string(code)),
                 now, batch);
}

void ClusterModel::OnWorkerFailed(Job& job, int rank, int code, const std::string& why, double now,
                                  store::WriteBatch* batch) {
  auto it = std::find_if(job.workers.begin(), job.workers.end(), [&](const auto& w) { return w.rank == rank; });
  if (it == job.workers.end() || it->state == WorkerState::kExited) return;
  it->state = WorkerState::kExited;
  it->exit_code = code;
  store::JobRecord& rec = job.rec;
  if (rec.failures > 0 && now - rec.last_failure >= kFailureResetSeconds) rec.failures = 0;  // a quiet spell
  ++rec.failures;
  rec.last_failure = now;
  rec.failed_rank = rank;
  if (rec.workers.rigid()) {
    RestartOrFail(job, why, now, batch);
    return;
  }
  // An elastic job: every worker failure counts against its budget, and no
  // replacement starts before the backoff ends, so a command that always
  // fails ends FAILED instead of being replaced forever.
  const std::string count = "failure " + std::to_string(rec.failures) + " of " + std::to_string(rec.max_restarts) +
                            " allowed in a row";
  if (rec.failures > rec.max_restarts) {
    RemoveAllWorkers(job, batch);
    SetState(job, kFailed,
             why + "; " + Plural(rec.failures, "worker failure") + " in a row, more than max_restarts (" +
                 std::to_string(rec.max_restarts) + ") allows",
             now, batch);
    return;
  }
  const std::string wait = Secs(BackoffUntil(rec) - now);
  const int alive = job.Alive();
  int from = static_cast<int>(job.workers.size());
  if (alive >= rec.workers.min) {
    RemoveWorkers(job, {rank}, batch);
    ++rec.generation;
    AddRescale(job, {now, from, from - 1});
    Event(job, "scale",
          why + "; continuing on " + Plural(alive, "worker") + " (" + count + "; no replacement for " + wait + ")",
          now, batch);
    Persist(job, batch);
    return;
  }
  // Fewer than min are left: requeue the job, to start again after the backoff.
  ++rec.restarts;
  Requeue(job, kPending,
          why + "; fewer than " + Plural(rec.workers.min, "worker") + " left, requeued (" + count +
              "; starts again in " + wait + ")",
          now, batch);
}

}  // namespace drover::server

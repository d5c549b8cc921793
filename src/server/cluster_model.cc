#include "server/cluster_model.h"

#include <openssl/hmac.h>

#include <algorithm>
#include <cstdio>

#include "spec/plan_parser.h"

namespace drover::server {


namespace {

bool Waiting(JobState s) { return s == kPending || s == kPreempted; }

// A job keeps this many resizes; older ones are dropped (one job must not grow without bound).
constexpr size_t kMaxRescales = 100;

void AddRescale(Job& job, const Rescale& r) {
  job.rec.rescales.push_back(r);
  if (job.rec.rescales.size() > kMaxRescales) {
    job.rec.rescales.erase(job.rec.rescales.begin(), job.rec.rescales.end() - static_cast<std::ptrdiff_t>(kMaxRescales));
  }
}

std::string Secs(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.0fs", s);
  return buf;
}

std::string Plural(int n, const char* what) { return std::to_string(n) + " " + what + (n == 1 ? "" : "s"); }

std::string Describe(const std::vector<store::WorkerRecord>& workers) {
  std::map<std::string, int> per_host;
  for (const auto& w : workers) ++per_host[w.host];
  std::string s;
  for (const auto& [h, n] : per_host) s += (s.empty() ? "" : ", ") + h + ": " + std::to_string(n);
  return s;
}

}  // namespace

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

std::string ClusterModel::JobToken(JobId job, const std::string& secret) {
  std::string id = std::to_string(job);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(id.data()), id.size(), md, &len);
  std::string hex;
  char buf[3];
  for (unsigned i = 0; i < len; ++i) {
    std::snprintf(buf, sizeof buf, "%02x", md[i]);
    hex += buf;
  }
  return "drv_w_" + id + "_" + hex;
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

template <typename T>
std::string Joined(const std::vector<T>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ",") + std::to_string(x);
  return s;
}

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

Status ClusterModel::ApplyPlan(const ConsumerTree& tree, const std::string& yaml, store::WriteBatch* batch) {
  for (const auto& [id, job] : jobs_) {
    if (!IsTerminal(job.rec.state) && tree.Find(job.rec.consumer) < 0) {
      return FailedPrecondition("the new plan drops consumer " + job.rec.consumer + ", which job " +
                                std::to_string(id) + " (" + api::Name(job.rec.state) + ") uses; cancel it or keep the consumer");
    }
  }
  plan_ = tree;
  plan_yaml_ = yaml;
  batch->plan_yaml = yaml;
  return Status::Ok();
}

Result<JobId> ClusterModel::Submit(const ParsedJob& parsed, const std::string& yaml, const Principal& who, double now,
                                   store::WriteBatch* batch) {
  const JobSpec& spec = parsed.spec;
  if (!spec.user.empty() && spec.user != who.name && who.role != Role::kAdmin) {
    return PermissionDenied("user: " + who.name + " may not submit as " + spec.user +
                            " (only an admin may); leave the field out");
  }
  std::string path = spec.consumer;
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
  int consumer = plan_.Find(path);
  if (consumer < 0) {
    return NotFound("consumer " + path + " does not exist; `drover consumers` lists them");
  }
  if (!MayUse(who, path)) {
    return PermissionDenied("user " + who.name + " may not submit to consumer " + path);
  }
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
  job.rec.progress = {};  // it starts over
  SetState(job, state, why, now, batch);
}

void ClusterModel::RestartOrFail(Job& job, const std::string& why, double now, store::WriteBatch* batch) {
  if (job.rec.restarts < job.rec.max_restarts) {
    ++job.rec.restarts;
    ++job.rec.generation;
    job.rec.progress = {};  // every worker starts over
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

void ClusterModel::OnWorkerExit(Job& job, const ReportedWorker& r, double now, store::WriteBatch* batch) {
  auto it = std::find_if(job.workers.begin(), job.workers.end(), [&](const auto& w) { return w.rank == r.rank; });
  if (it == job.workers.end() || it->state == WorkerState::kExited) return;
  int code = r.signal ? 128 + r.signal : r.exit_code;
  std::string who = "worker " + std::to_string(r.rank) + " on " + it->host;
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
  OnWorkerFailed(job, r.rank, code,
                 who + (r.signal ? " was killed by signal " + std::to_string(r.signal)
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

std::vector<DesiredWorker> ClusterModel::Sync(const std::string& host_name, const std::vector<ReportedWorker>& report,
                                              double now, const WorkerEnvContext& ctx, store::WriteBatch* batch) {
  auto hit = hosts_.find(host_name);
  if (hit == hosts_.end()) return {};
  Host& host = hit->second;
  host.rec.last_seen = now;
  host.synced = true;
  if (host.rec.state != "up") {
    host.rec.state = "up";
    batch->hosts.push_back(host.rec);
  }
  std::set<std::pair<JobId, int>> reported_running;
  for (const ReportedWorker& r : report) {
    if (r.stopping) continue;
    Job* job = MutableJob(r.job);
    if (!job) continue;
    auto it = std::find_if(job->workers.begin(), job->workers.end(), [&](const auto& w) {
      return w.rank == r.rank && w.generation == r.generation && w.host == host_name;
    });
    if (it == job->workers.end()) continue;  // not wanted any more: the agent stops it
    if (r.exited) {
      OnWorkerExit(*job, r, now, batch);
      continue;
    }
    reported_running.insert({r.job, r.rank});
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
        OnWorkerExit(job, {id, w.rank, w.generation, w.pid, true, 0, 9}, now, batch);
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
      DesiredWorker d{id, w.rank, w.generation, job.rec.argv, job.rec.env, w.gpus};
      std::string gpus;
      for (int g : w.gpus) gpus += (gpus.empty() ? "" : ",") + std::to_string(g);
      auto rendezvous = hosts_.find(first->host);
      d.env["DROVER_JOB_ID"] = std::to_string(id);
      d.env["RANK"] = std::to_string(w.rank);
      d.env["WORLD_SIZE"] = std::to_string(job.workers.size());
      d.env["LOCAL_RANK"] = std::to_string(local++);
      d.env["MASTER_ADDR"] = rendezvous != hosts_.end() && !rendezvous->second.address.empty() ? rendezvous->second.address
                                                                                        : "127.0.0.1";
      d.env["MASTER_PORT"] = std::to_string(job.rec.master_port);
      d.env["CUDA_VISIBLE_DEVICES"] = gpus;
      d.env["DROVER_SERVER"] = ctx.server_url;
      d.env["DROVER_TOKEN"] = JobToken(id, ctx.job_token_secret);
      desired.push_back(std::move(d));
    }
  }
  return desired;
}

bool ClusterModel::NeedsChange(const std::string& host_name, const std::vector<ReportedWorker>& report) const {
  std::set<std::tuple<JobId, int, int64_t>> running, wanted;
  for (const ReportedWorker& r : report) {
    if (r.exited) return true;
    if (!r.stopping) running.insert({r.job, r.rank, r.generation});
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

int ClusterModel::CheckHosts(double now, double timeout, store::WriteBatch* batch) {
  int changed = 0;
  for (auto& [name, h] : hosts_) {
    if (h.rec.state == "up" && now - h.rec.last_seen > timeout) {
      h.rec.state = "down";
      batch->hosts.push_back(h.rec);
      ++changed;
    }
  }
  return changed;
}

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

  Progress& p = job->rec.progress;
  const Progress before = p;
  if (!s.step || !p.step || *s.step >= *p.step) {  // a lagging rank does not move the step back
    if (s.step) p.step = s.step;
    if (s.loss) p.loss = s.loss;
  }
  if (s.epoch) p.epoch = s.epoch;
  if (s.samples_per_s) p.samples_per_s = s.samples_per_s;
  if (s.world_size) p.world_size = s.world_size;

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

int ClusterModel::Schedule(sched::Policy& policy, double now, store::WriteBatch* batch) {
  AccrueService(now);
  sched::ClusterState state;
  state.consumers = plan_;
  std::vector<std::string> names;
  std::map<std::string, int> index;
  for (const auto& [name, h] : hosts_) {
    index[name] = static_cast<int>(names.size());
    names.push_back(name);
    state.hosts.push_back({name, h.rec.capacity, h.rec.state == "up" && !h.rec.cordoned});
  }
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
    j.per_worker = job.rec.per_worker;
    j.submit_time = job.rec.submit_time;
    j.attained_service = job.rec.attained_service;
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

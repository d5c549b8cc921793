// ClusterModel: the server's working state — plan, hosts, jobs and their
// workers — and every rule of the job lifecycle. No I/O, no locks, no clock:
// each mutation takes `now` and appends the records it changed to a
// store::WriteBatch, which the server makes durable before it answers.
//
// Job states: PENDING → STARTING (workers assigned) → RUNNING (all reported
// running) → SUCCEEDED | FAILED | CANCELLED; PREEMPTED is a requeued job
// waiting to start again. Every transition appends an event with its reason.
//
// Workers are identified by (job, rank) and the generation at which they were
// (re)started; an agent runs exactly the workers the model wants on its host.
// Growing adds ranks, shrinking removes the highest ranks on the hosts the
// scheduler frees, so the workers that stay keep their processes.
//
// Not thread-safe: the server serialises access with one mutex.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "api/wire.h"
#include "common/consumer_tree.h"
#include "server/auth.h"
#include "server/launch_env.h"
#include "sched/decisions.h"
#include "sched/goodput_model.h"
#include "sched/policy.h"
#include "spec/job_parser.h"
#include "store/store.h"

namespace drover::server {

using api::IsTerminal;
using api::JobState;
using api::WorkerState;
inline constexpr JobState kPending = JobState::kPending;
inline constexpr JobState kStarting = JobState::kStarting;
inline constexpr JobState kRunning = JobState::kRunning;
inline constexpr JobState kSucceeded = JobState::kSucceeded;
inline constexpr JobState kFailed = JobState::kFailed;
inline constexpr JobState kCancelled = JobState::kCancelled;
inline constexpr JobState kPreempted = JobState::kPreempted;

// The restart budget of elastic jobs: each worker failure counts; the count
// starts over after kFailureResetSeconds without one. After failure k no
// replacement starts for min(kBackoffBaseSeconds * 2^(k-1), kBackoffCapSeconds),
// as Kubernetes' CrashLoopBackOff does.
constexpr double kFailureResetSeconds = 600;
constexpr double kBackoffBaseSeconds = 1;
constexpr double kBackoffCapSeconds = 60;

// MASTER_PORT: each running job holds one port of [kMasterPortBase,
// kMasterPortBase + kMasterPorts), unique among running jobs (so two jobs
// whose rank 0 shares a host never collide), recorded with the job.
constexpr int kMasterPortBase = 29500;
constexpr int kMasterPorts = 10000;
//! When an elastic job may start or grow again after its latest failure (0: no failure).
double BackoffUntil(const store::JobRecord& job);

// What agents and workers' runtimes send and get (api/wire.h).
using api::DesiredWorker;
using api::ProcessState;
using api::WorkerReport;
using api::WorkerStatus;

using Rescale = store::RescaleRecord;
using Progress = store::ProgressRecord;

//! What a worker incarnation last told the server through its status posts.
struct WorkerContact {
  int64_t generation = 0;  //!< the WorkerRecord::generation it belongs to
  double last_status = 0;  //!< server clock
  bool ready = false;      //!< sticky for the incarnation
  bool joined = false;     //!< has reported a training step (it is in the group, not just started)
  int port = 0;            //!< an inference replica's serving port, once posted
};

struct Job {
  store::JobRecord rec;
  std::vector<store::WorkerRecord> workers;  //!< the desired workers, by rank
  // From the workers' status posts; in memory only (a server restart forgets them).
  std::map<int, WorkerContact> contacts;  //!< by rank
  //! rec.progress or a pause changed since the job was last persisted (FlushProgress writes it).
  bool progress_unsaved = false;

  //! The status of this incarnation of `w`; null until it posts.
  const WorkerContact* Contact(const store::WorkerRecord& w) const;
  //! The job's learned performance (what rec.progress.profile holds, fitted);
  //! null until a worker posted a measured step.
  sched::GoodputModel* Goodput() const;
  //! Its speedup profile for the scheduler on hosts of `per_host` workers;
  //! empty (linear) while unknown.
  std::vector<double> Speedup(int per_host) const;
  //! Seconds it would still train on one worker: the samples it has left
  //! over its model's rate on one (sched::JobState::remaining_work); 0 while
  //! either is unknown.
  double RemainingWork() const;

  //! Built from rec.progress.profile on first use, then kept in step with it:
  //! a cache of the record (hence mutable), refitted only when it changes.
  mutable std::optional<sched::GoodputModel> goodput;
  //! Workers that have not exited (starting, running or stopping).
  int Alive() const;
};

// A host is *in doubt* while up but not trusted with new work: its agent
// missed a sync it owed (none for its long poll plus kSyncSlackSeconds), or a
// worker there went silent (nothing for kPeerSilenceSeconds) while its peers
// asked to regroup. Its workers stay; the scheduler places nothing new there
// until the agent syncs again, long before the heartbeat timeout marks it down.
constexpr double kSyncSlackSeconds = 2;
constexpr double kPeerSilenceSeconds = 3;

struct Host {
  store::HostRecord rec;
  std::string address;  //!< how other hosts reach it (from its connection)
  bool synced = false;  //!< reported at least once since the server started
  double sync_wait_s = 1;  //!< the long poll its agent asked for last
  std::string in_doubt;    //!< why it takes no new work though up; "" when it does
};

class ClusterModel {
 public:
  //! Replaces the state with a snapshot (a server start). Hosts count as up
  //! and seen `now`, so their agents have a full timeout to reconnect.
  Status Load(const store::Snapshot& snap, double now);

  //! Workers of `per_worker`'s GPUs the largest host takes (at least 1): the
  //! node size of the speedup profiles.
  int WorkersPerHost(const Resources& per_worker) const;
  //! The largest host's GPUs (0 without hosts).
  int64_t MaxHostGpus() const;
  //! GPUs held by workers that have not exited, by host (hosts with none absent).
  std::map<std::string, int64_t> GpusInUse() const;

  // -- plan ------------------------------------------------------------------
  const ConsumerTree& plan() const { return plan_; }
  const std::string& plan_yaml() const { return plan_yaml_; }
  //! kFailedPrecondition if applying `tree` would drop an active job's
  //! consumer (naming it); else OK.
  Status CheckPlan(const ConsumerTree& tree) const;
  //! Replaces the plan, after CheckPlan.
  Status ApplyPlan(const ConsumerTree& tree, const std::string& yaml, store::WriteBatch* batch);

  // -- jobs ------------------------------------------------------------------
  //! Validates and queues a job. kNotFound for an unknown consumer,
  //! kInvalidArgument when no host or plan limit could ever fit it,
  //! kPermissionDenied-like kFailedPrecondition when `who` may not use the consumer.
  Result<JobId> Submit(const ParsedJob& job, const std::string& yaml, const Principal& who, double now,
                       store::WriteBatch* batch);
  //! The consumer `who` submits to when asking for `given` ("" or "/": their
  //! only consumer, or the root for an admin). kInvalidArgument naming theirs
  //! when they have several, kNotFound for one not in the plan,
  //! kPermissionDenied for one outside their subtrees.
  Result<std::string> ResolveConsumer(const Principal& who, const std::string& given) const;
  Status Cancel(JobId id, const std::string& why, double now, store::WriteBatch* batch);
  Status Update(JobId id, std::optional<int> priority, std::optional<WorkerBounds> bounds, double now,
                store::WriteBatch* batch);
  const Job* FindJob(JobId id) const;
  //! How `host` is reached (its agent's address), "" if unknown.
  std::string HostAddress(const std::string& host) const;
  const std::map<JobId, Job>& jobs() const { return jobs_; }
  //! Reason the scheduler gave last for a pending job ("" if none).
  std::string PendingReason(JobId id) const;
  //! What kind of wait that is (quota, grace, capacity, infeasible, backoff); unset if none.
  std::optional<sched::PendingKind> PendingKindOf(JobId id) const;

  // -- hosts -----------------------------------------------------------------
  void RegisterHost(const store::HostRecord& host, const std::string& address, double now,
                    store::WriteBatch* batch);
  const std::map<std::string, Host>& hosts() const { return hosts_; }
  //! Applies an agent's report (pids, exits) and returns what it should run.
  //! `wait_s`: the long poll the agent asked for (its next sync is owed by
  //! then, plus kSyncSlackSeconds). Clears the host's doubt.
  std::vector<DesiredWorker> Sync(const std::string& host, const std::vector<WorkerReport>& report, double now,
                                  const WorkerEnvContext& ctx, store::WriteBatch* batch, double wait_s = 1);
  //! What `host` should run now.
  std::vector<DesiredWorker> Desired(const std::string& host, const WorkerEnvContext& ctx) const;
  //! The OS user the workers of `consumer` run as: its run_as (or its
  //! nearest ancestor's), else the cluster's default; "": the agent's own.
  std::string RunAs(const std::string& consumer, const WorkerEnvContext& ctx) const {
    std::string user = plan_.RunAs(plan_.Find(consumer));
    return user.empty() ? ctx.default_run_as : user;
  }
  //! The jobs of `user` that have not ended.
  std::vector<JobId> ActiveJobs(const std::string& user) const;
  //! Whether worker `rank` of job `job` is (or, exited, was last) placed on `host`.
  bool Placed(const std::string& host, JobId job, int rank) const;
  //! True when the report differs from what the host should run.
  bool NeedsChange(const std::string& host, const std::vector<WorkerReport>& report) const;
  //! Drains (`cordoned`) or uncordons a host: a drained host gets no work, and
  //! the scheduler moves what runs there (elastic jobs shrink, rigid ones are
  //! requeued), as for a host that is down; its agent stays in contact and
  //! stops the workers. kNotFound for an unknown host.
  Status SetCordoned(const std::string& host, bool cordoned, double now, store::WriteBatch* batch);
  //! A host's agent is stopping: the host is down from now (its workers stop
  //! with the agent; the scheduler moves their jobs as for any host that is
  //! down, and their exits do not count as failures). kNotFound if unknown.
  Status HostLeaving(const std::string& host, double now, store::WriteBatch* batch);
  //! An admin revokes a host (`revoked`): it is "revoked" from now, down for
  //! the scheduler (its work moves as for any host that is down), and no agent
  //! may register under its name until an admin admits it again (`!revoked`:
  //! "down" until an agent registers). kNotFound for an unknown host;
  //! kFailedPrecondition to admit a host that is not revoked.
  Status SetRevoked(const std::string& host, bool revoked, double now, store::WriteBatch* batch);
  //! Marks hosts not seen for `timeout` seconds down, and hosts that owe a
  //! sync in doubt. Returns how many went down.
  int CheckHosts(double now, double timeout, store::WriteBatch* batch);
  //! Worker `rank` of job `id` asked to regroup: the hosts of its peers that
  //! have posted nothing for kPeerSilenceSeconds are put in doubt. Returns how many.
  int DoubtSilentPeers(JobId id, int rank, double now);

  // -- workers' runtime ------------------------------------------------------
  //! Records a worker's status post: its heartbeat and readiness, the job's
  //! progress, a resize's pause. Nothing here is persisted. Returns the job's
  //! generation; kNotFound when `rank` is not a current worker of the job.
  Result<int64_t> ReportWorkerStatus(JobId id, int rank, const WorkerStatus& status, double now);
  //! A worker's group failed at `generation` though no member is gone (say a
  //! rendezvous timed out): opens generation + 1 with the same workers, once —
  //! a no-op if the job has already moved past `generation`. Returns the
  //! job's generation. kNotFound for an unknown job.
  Result<int64_t> Regroup(JobId id, int64_t generation, const std::string& who, double now, store::WriteBatch* batch);
  //! Persists the jobs whose progress or resize pauses changed since they
  //! were last written (status posts are not written one by one); the server
  //! calls it once a scheduling cycle (`only`: just that job). Returns how many.
  int FlushProgress(store::WriteBatch* batch, std::optional<JobId> only = std::nullopt);
  //! A worker that has posted status, but none for `timeout` seconds, fails
  //! as if it had crashed (WorkerUnresponsive). Returns how many failed.
  int CheckWorkers(double now, double timeout, store::WriteBatch* batch);
  //! Fails worker `rank` of job `id` with `why`: an elastic job within its
  //! failure budget drops it (above `min`) or is requeued; a rigid job restarts
  //! or fails.
  Status WorkerUnresponsive(JobId id, int rank, const std::string& why, double now, store::WriteBatch* batch);

  // -- scheduling ------------------------------------------------------------
  //! One scheduling cycle: builds sched's ClusterState, decides, applies.
  //! Returns the number of changes.
  int Schedule(sched::Policy& policy, double now, store::WriteBatch* batch);
  //! Caps each listed job at that many workers for the scheduler, below its
  //! bounds (a deployment's autoscaled replica count); the others are uncapped.
  //! In memory only: the server derives it again after a restart.
  void SetWorkerCaps(std::map<JobId, int> caps) { caps_ = std::move(caps); }
  const sched::Decisions& last_decisions() const { return last_; }
  //! Consumers indexed like plan(): usage after the last cycle.
  const std::vector<sched::ConsumerUsage>& usage() const { return last_.consumers; }

  JobId next_job_id() const { return next_id_; }

  //! Load(), keeping what the store never holds: hosts' addresses and
  //! contact, jobs' progress, workers' status and resize history.
  Status Reload(const store::Snapshot& snap, double now);
  //! What differs between the durable parts of two models, one line per
  //! record ("" if nothing): plan, id allocator, jobs, workers, hosts. Fields
  //! accrued in memory and written with the record's next change (a host's
  //! last_seen, a job's attained service) are not compared.
  static std::string DurableDiff(const ClusterModel& a, const ClusterModel& b);

 private:
  Job* MutableJob(JobId id);
  //! The throughput fit of the newest other job of the same consumer with the
  //! same command and environment whose model has seen enough to start
  //! another from (sched::GoodputModel::Informative); none otherwise. Jobs
  //! of other consumers are never looked at: one tenant's measurements do not
  //! shape another's.
  std::optional<store::PriorRecord> PriorFor(const Job& job) const;
  //! Job `id` and its worker `rank` if that is a current (not exited) worker; else kNotFound.
  Result<std::pair<Job*, store::WorkerRecord*>> Member(JobId id, int rank);
  void SetState(Job& job, JobState state, const std::string& why, double now, store::WriteBatch* batch);
  void Event(const Job& job, const std::string& type, const std::string& message, double now, store::WriteBatch* batch);
  void Persist(Job& job, store::WriteBatch* batch);
  void RemoveWorkers(Job& job, const std::set<int>& ranks, store::WriteBatch* batch);
  void RemoveAllWorkers(Job& job, store::WriteBatch* batch);
  //! Stops every worker of `job` and puts it back in the queue as `state` (PENDING or PREEMPTED), to start over.
  void Requeue(Job& job, JobState state, const std::string& why, double now, store::WriteBatch* batch);
  void RestartOrFail(Job& job, const std::string& why, double now, store::WriteBatch* batch);
  void OnWorkerExit(Job& job, const WorkerReport& r, double now, store::WriteBatch* batch);
  void OnWorkerFailed(Job& job, int rank, int code, const std::string& why, double now, store::WriteBatch* batch);
  //! What a decision's first phase gave up, for its second.
  struct Released {
    int from = 0;          //!< workers before the decision
    bool dropped = false;  //!< some were removed
  };
  //! A decision's first phase: preemption, and the workers it removes.
  Released Release(const sched::Decision& d, const std::vector<std::string>& host_names, double now,
                   store::WriteBatch* batch);
  //! Its second phase, once every decision has released: the workers it adds, with their GPUs.
  void Place(const sched::Decision& d, const Released& released, const std::vector<std::string>& host_names,
             double now, store::WriteBatch* batch);
  std::vector<int> FreeGpus(const std::string& host) const;
  void AccrueService(double now);
  //! Gives a job with workers a MASTER_PORT no other running job holds; frees it when it has none.
  void AssignMasterPort(Job& job);

  ConsumerTree plan_;
  std::string plan_yaml_;
  std::map<JobId, Job> jobs_;
  std::map<JobId, int> caps_;  // SetWorkerCaps
  std::map<std::string, Host> hosts_;
  JobId next_id_ = 1;
  sched::Decisions last_;
  std::map<JobId, sched::PendingReason> pending_reason_;
  double last_accrual_ = 0;
  int next_port_ = 0;  //!< where AssignMasterPort looks first, as an offset from kMasterPortBase
};

}  // namespace drover::server

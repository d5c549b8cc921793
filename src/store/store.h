// Store: the server's durable state — plan, users and tokens, hosts, jobs,
// their events and workers — as records, written in atomic batches.
//
// The server keeps its working state in memory and acknowledges a request only
// after Apply() of the batch describing its change has returned OK: Apply is
// durable on return (the transaction is committed and synced). Load() returns
// everything, for a restart. Implementations must be safe to call from many
// threads at once; concurrent Apply calls may be committed together in one
// transaction (group commit) but each returns only once its own batch is
// durable, and batches are applied in the order their Apply calls began.
//
// Errors: kUnavailable when the database cannot be written (disk full, I/O),
// kInternal for a corrupt database; a failed Apply changes nothing.
#pragma once

#include <cstdint>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "api/states.h"
#include "common/job.h"
#include "common/resources.h"
#include "common/status.h"

namespace drover::store {

//! A resize of a job's worker set, and how long training paused for it.
struct RescaleRecord {
  double time = 0;
  int from = 0;
  int to = 0;
  std::optional<double> pause_ms;  //!< as a worker reported it; unknown if unset
  friend bool operator==(const RescaleRecord&, const RescaleRecord&) = default;
};

//! One averaged point of a job's measured steps (sched::StepObservation).
struct PerfPointRecord {
  int nodes = 1;
  int replicas = 1;
  double local_batch = 0;
  double step_s = 0;
  double compute_s = 0;
  int64_t count = 0;  //!< status posts averaged into it
  friend bool operator==(const PerfPointRecord&, const PerfPointRecord&) = default;
};

//! The throughput fit of an earlier job with the same command in the same
//! consumer, which a job's own fit starts from (sched::PriorBook).
struct PriorRecord {
  JobId from_job = 0;
  double a_grad = 0, b_grad = 0, a_local = 0, b_local = 0, a_node = 0, b_node = 0, gamma = 1;
  friend bool operator==(const PriorRecord&, const PriorRecord&) = default;
};

//! What the server has learned of a job's performance (sched::GoodputModel's
//! inputs): kept with its progress, so a restart keeps it.
struct ProfileRecord {
  double init_batch = 0;  //!< the global batch of its first measured step (M0)
  double max_batch = 0;   //!< adaptive batch: the largest it may choose; 0: fixed
  std::vector<PerfPointRecord> points;
  double grad_sqr = 0, grad_var = 0;  //!< the latest gradient noise; 0, 0: unknown
  double noise_batch = 0;             //!< the global batch it was measured at; 0: unknown
  std::optional<PriorRecord> prior;   //!< chosen at its first measured step, kept
  friend bool operator==(const ProfileRecord&, const ProfileRecord&) = default;
};

//! A job's training progress, as its workers last reported it.
struct ProgressRecord {
  std::optional<int64_t> step, epoch;
  std::optional<double> loss, samples_per_s;
  std::optional<int> world_size;  //!< as the runtime counts it
  std::optional<ProfileRecord> profile;  //!< once a worker posted a measured step
  std::optional<double> samples_left;    //!< before the length it was given (api::WorkerStatus)
  friend bool operator==(const ProgressRecord&, const ProgressRecord&) = default;
};

struct JobRecord {
  JobId id = 0;
  std::string name;
  std::string consumer;              //!< consumer path
  std::string user;
  int priority = 0;
  WorkerBounds workers;
  Resources per_worker;
  std::vector<std::string> argv;
  std::map<std::string, std::string> env;
  int max_restarts = 0;              //!< rigid: full restarts; elastic: worker failures in a row
  int restarts = 0;                  //!< full restarts (rigid) or requeues after failures (elastic)
  int failures = 0;                  //!< worker failures in a row (reset after a quiet spell)
  double last_failure = 0;           //!< time of the latest worker failure; 0 if none
  int failed_rank = -1;              //!< the worker that failed last; -1 if none
  api::JobState state = api::JobState::kPending;  //!< stored as its Name()
  std::string reason;                //!< last scheduler reason / failure cause
  double submit_time = 0;
  double start_time = 0;             //!< 0 until first started
  double end_time = 0;               //!< 0 until terminal
  double attained_service = 0;       //!< GPU-seconds
  int64_t generation = 0;            //!< bumped on every change of the worker set
  std::string spec_yaml;             //!< what the user submitted, verbatim
  int master_port = 0;               //!< its workers' MASTER_PORT while it runs; 0 when not running
  std::vector<RescaleRecord> rescales;  //!< the latest resizes, oldest first
  ProgressRecord progress;
};

struct EventRecord {
  JobId job = 0;
  double time = 0;
  std::string type;     //!< "state", "scale", "worker", ...
  std::string message;
};

struct HostRecord {
  std::string name;
  Resources capacity;
  std::string gpus_json;  //!< discovered GPUs ([{index, uuid, name, memory_mib}]) or "[]"
  std::string state;      //!< "up" or "down"
  double registered = 0;
  double last_seen = 0;
  bool cordoned = false;  //!< drained by an admin: gets no work until uncordoned
};

//! One worker (a process) of a job on a host, part of generation `generation`.
struct WorkerRecord {
  JobId job = 0;
  int rank = 0;
  std::string host;
  std::vector<int> gpus;  //!< GPU indices on that host
  int64_t generation = 0;
  int pid = 0;            //!< 0 until the agent reports it
  api::WorkerState state = api::WorkerState::kAssigned;  //!< stored as its Name()
  int exit_code = 0;
};

struct UserRecord {
  std::string name;
  std::string role;                    //!< "admin" or "user"
  std::vector<std::string> consumers;  //!< subtrees the user may act in
};

struct TokenRecord {
  std::string sha256;  //!< hex SHA-256 of the token; the token itself is never stored
  std::string kind;    //!< "user", "agent", "join", "job"
  std::string user;    //!< for "user"; host name for "agent"
  JobId job = 0;       //!< for "job"
  double created = 0;
};

//! One trial of an experiment: a job running one configuration.
struct TrialRecord {
  int index = 0;               //!< 0-based, in the order trials were started
  JobId job = 0;
  std::vector<double> config;  //!< hpo::Config: one value (or list index) per parameter
  int bracket = 0;             //!< hyperband's bracket; 0 otherwise
  std::string state;           //!< "RUNNING", "SUCCEEDED", "STOPPED" (early), "FAILED"
  std::string reason;
  int rung = -1;               //!< early stopping: the highest rung it passed
  friend bool operator==(const TrialRecord&, const TrialRecord&) = default;
};

//! A hyperparameter-optimisation experiment and its trials.
struct ExperimentRecord {
  int64_t id = 0;
  std::string name;
  std::string consumer;
  std::string user;
  std::string spec_yaml;  //!< what the user submitted, verbatim
  std::string state;      //!< "RUNNING", "SUCCEEDED", "FAILED", "STOPPED"
  std::string reason;
  double created = 0;
  double ended = 0;       //!< 0 while running
  std::vector<TrialRecord> trials;
  friend bool operator==(const ExperimentRecord&, const ExperimentRecord&) = default;
};

//! One metrics report of a job (a `drover-metric` line, or a POST): numbers by name.
struct MetricRecord {
  JobId job = 0;
  int64_t seq = 0;          //!< 1, 2, ... per job
  double time = 0;
  std::string values_json;  //!< {"epoch": 1, "val_acc": 0.85}
  int64_t log_end = 0;      //!< from rank 0's output: the offset just past its line; 0 if POSTed
  friend bool operator==(const MetricRecord&, const MetricRecord&) = default;
};

//! One atomic change. Upserts replace the record with the same key
//! (job: id; host: name; worker: (job, rank); user: name; token: sha256).
//! A scaling event of a deployment, as `drover deployment NAME` shows it.
struct ScaleEventRecord {
  double time = 0;
  int from = 0;
  int to = 0;
  std::string reason;
  friend bool operator==(const ScaleEventRecord&, const ScaleEventRecord&) = default;
};

//! An inference deployment: its spec and the job whose workers are its replicas.
struct DeploymentRecord {
  std::string name;
  std::string owner;
  std::string consumer;
  std::string spec_yaml;  //!< what the user submitted, verbatim
  std::string state;      //!< "ACTIVE", "FAILED" (its replicas kept failing) or "REMOVED"
  std::string reason;     //!< why it failed, or why replicas cannot start
  JobId job = 0;          //!< the replicas' job; 0 while scaled to zero
  double created = 0;
  std::vector<ScaleEventRecord> events;  //!< the most recent, oldest first
  friend bool operator==(const DeploymentRecord&, const DeploymentRecord&) = default;
};

//! One point of a history series (the console's charts): numbers by name,
//! averaged over `resolution` seconds from `time`. Series are named
//! "cluster", "consumers", "job:ID" and "deployment:NAME".
struct SampleRecord {
  std::string series;
  double time = 0;
  double resolution = 0;
  std::map<std::string, double> values;
  friend bool operator==(const SampleRecord&, const SampleRecord&) = default;
};

//! Drops every sample of `resolution` older than `before` (bounded retention).
struct SamplePrune {
  double resolution = 0;
  double before = 0;
};

struct WriteBatch {
  std::optional<std::string> plan_yaml;
  std::vector<JobRecord> jobs;
  std::vector<EventRecord> events;
  std::vector<HostRecord> hosts;
  std::vector<WorkerRecord> workers;
  std::vector<std::pair<JobId, int>> removed_workers;  //!< (job, rank)
  std::vector<UserRecord> users;
  std::vector<TokenRecord> tokens;
  std::vector<std::string> revoked_tokens;  //!< sha256
  std::vector<std::string> removed_users;   //!< names (their tokens are revoked separately)
  //! When set, replaces every reclaim timer (consumer path -> owed since).
  std::optional<std::map<std::string, double>> reclaim_timers;
  std::optional<JobId> next_job_id;         //!< the id allocator's high-water mark
  std::vector<ExperimentRecord> experiments;  //!< upserts by id, with all their trials
  std::vector<MetricRecord> metrics;          //!< appended; (job, seq) is unique
  std::vector<DeploymentRecord> deployments;  //!< upserts by name
  std::vector<SampleRecord> samples;          //!< upserts by (series, resolution, time)
  std::vector<SamplePrune> pruned_samples;    //!< applied before `samples`
  bool empty() const;
};

struct Snapshot {
  std::string plan_yaml;
  std::vector<JobRecord> jobs;
  std::vector<HostRecord> hosts;
  std::vector<WorkerRecord> workers;
  std::vector<UserRecord> users;
  std::vector<TokenRecord> tokens;
  JobId next_job_id = 1;
  std::map<std::string, double> reclaim_timers;  //!< the scheduler's: consumer path -> owed since
  std::vector<ExperimentRecord> experiments;      //!< by id
  std::vector<MetricRecord> metrics;              //!< by job, then seq
  std::vector<DeploymentRecord> deployments;      //!< by name
};

class Store {
 public:
  virtual ~Store() = default;
  [[nodiscard]] virtual Status Apply(const WriteBatch& batch) = 0;
  //! Queues `batch` behind every batch queued before it and returns at once;
  //! the future becomes ready when the batch is durable (or failed). Lets a
  //! caller fix the order of its changes under its own lock, then wait outside
  //! it. The default applies synchronously.
  virtual std::shared_future<Status> ApplyAsync(WriteBatch batch) {
    std::promise<Status> p;
    p.set_value(Apply(batch));
    return p.get_future().share();
  }
  virtual Result<Snapshot> Load() = 0;
  //! A store that halts after a failed batch (SqliteStoreOptions::
  //! halt_after_failure) accepts batches again; others ignore it.
  virtual void Resume() {}
  //! Events of one job, oldest first; at most `limit` of the newest.
  virtual Result<std::vector<EventRecord>> Events(JobId job, int limit) = 0;
  //! Samples of `series` at `resolution` from `since` on, oldest first; at most `limit` of the newest.
  virtual Result<std::vector<SampleRecord>> Samples(const std::string& series, double resolution, double since,
                                                    int limit) = 0;
};

//! Opens (creating if needed) `dir`/drover.db in WAL mode and migrates its
//! schema to the current version. kFailedPrecondition if the database was
//! written by a newer drover.
Result<std::unique_ptr<Store>> OpenSqliteStore(const std::string& dir);

}  // namespace drover::store

// Server: `drover server` — the REST API, the scheduler loop and the agents'
// long-poll sync, around a ClusterModel made durable through a Store.
//
// Every request that changes state is acknowledged only after its batch is
// committed (Store::ApplyAsync, queued under the model lock so commits follow
// the order of the changes). The scheduler runs on every relevant event and
// at least every `schedule_interval` seconds. A host that has not synced for
// `heartbeat_timeout` seconds is marked down; a worker that has posted status
// but none for `worker_heartbeat_timeout` seconds fails as if it had crashed.
//
// Workers' status posts (heartbeat, readiness, progress) and each job's
// rendezvous key-value store live in memory only: they are ephemeral, and the
// workers post again and rebuild their rendezvous after a server restart.
//
// Thread safety: Run() blocks; Stop() may be called from any thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "server/cluster_model.h"
#include "server/deployments.h"
#include "server/experiments.h"
#include "server/history.h"
#include "server/kv_store.h"
#include "server/log_store.h"
#include "server/metrics.h"
#include "server/router.h"
#include "sched/policy.h"
#include "store/store.h"

namespace drover::server {

struct ServerOptions {
  std::string data_dir = "drover-data";
  std::string host = "127.0.0.1";
  int port = 8080;
  std::string tls_cert, tls_key;
  std::string advertise_url;          //!< URL workers use to reach the server; default from host:port
  std::string default_run_as;         //!< the OS user of workers whose consumer names none ("": the agent's)
  bool no_root_workers = false;       //!< refuse jobs whose workers would run as root (no run_as anywhere)
  std::string policy = "drover";
  double heartbeat_timeout = 10;      //!< seconds without a sync before a host is down
  double worker_heartbeat_timeout = 10;  //!< seconds without a status post before a worker fails; 0: never
  double schedule_interval = 1;       //!< seconds between periodic scheduling cycles
  size_t max_body_bytes = 1 << 20;    //!< larger requests get 413
  int threads = 32;                   //!< threads that run handlers (long polls park without one)
  int io_threads = 2;                 //!< threads that read and write connections
  int max_waits_per_principal = 64;   //!< parked long polls one principal may hold; more get 429
  //! The inference router's port (/v2/models/NAME/infer, on `host`, with the
  //! API's TLS): its own listener and threads, so the data path never waits
  //! behind the control plane's handlers. -1: no router; 0: any free port.
  int inference_port = -1;
  //! The port was not asked for (the default, the API's + 1): if it is taken,
  //! listen on any free one and say so, rather than not start.
  bool inference_port_defaulted = false;
  int inference_threads = 128;        //!< the router's handler threads (a request being served holds one)
  HistoryOptions history;             //!< the console's time series: how often sampled, how long kept
  std::string serve_binary = "drover-serve";  //!< what replicas run (agents find it on their PATH)
  int max_active_jobs_per_user = 10000;  //!< jobs not ended a user (not an admin) may have; more get 429
  size_t max_kv_bytes_per_user = size_t{256} << 20;  //!< values in all of a user's jobs' key-value stores
  //! For tests: the clock (Unix seconds) heartbeats, timeouts and records
  //! use; unset: the system clock. The scheduler still wakes on real time.
  std::function<double()> clock;
  //! For tests: wraps the store the server opens (say, to fail commits on demand).
  std::function<std::unique_ptr<store::Store>(std::unique_ptr<store::Store>)> wrap_store;
};

class Server {
 public:
  explicit Server(ServerOptions options);
  ~Server();

  //! Opens the store (creating the data dir, tokens on first start), loads the
  //! state and serves until Stop(). Returns the reason it could not start.
  Status Run();
  void Stop();
  //! The port actually bound (after Run has started listening); for port 0.
  int port() const { return bound_port_.load(); }
  //! The inference router's bound port (0 until listening, or without one).
  int inference_port() const { return inference_port_.load(); }

  //! For tests: what differs between the state in memory and what a fresh
  //! server would load from the store now ("" when nothing), once every
  //! queued commit has resolved. Fields that are accrued in memory and
  //! written with the record's next change (a host's last_seen, a job's
  //! attained service) are not compared.
  std::string DriftFromStore();
  //! For tests: every operation served, as "METHOD /route" (documented form),
  //! once Run has started listening.
  std::vector<std::string> Operations() const;

 private:
  void Routes(Router& router);
  // One routes file per resource (routes_<name>.cc).
  void ClusterRoutes(Router& router);  // health, metrics, hosts, consumers, plan
  void UserRoutes(Router& router);     // whoami, users, tokens
  void AgentRoutes(Router& router);    // agents' registration and sync (with their logs)
  void JobRoutes(Router& router);      // submit, list, show, cancel, update
  void LogRoutes(Router& router);      // workers' output, followed
  void RuntimeRoutes(Router& router);
  void ExperimentRoutes(Router& router);  // experiments and their trials; jobs' metrics
  void DeploymentRoutes(Router& router);  // inference deployments
  void ConsoleRoutes(Router& router);     // the web console's files and the history its charts draw
  //! One sample of every history series now (call with mu_ held).
  std::map<std::string, History::Values> SampleLocked() const;

  Status Bootstrap();
  void SchedulerLoop();
  void Trigger();
  double Now() const;
  //! Who is calling: a user or admin, an agent, the join token, or a job's worker; unset if nobody.
  std::optional<Principal> Authenticate(const httplib::Request& req);
  //! The job of the request's path if `who` may see it (admins: any; users:
  //! their subtrees; workers: their own job), else null. Call with mu_ held.
  const Job* VisibleJob(const Principal& who, const httplib::Request& req) const;
  static Status NoSuchJob(const httplib::Request& req);

  // -- the one write path ------------------------------------------------------
  //! Changes the state: under mu_, `change` edits the model and records what
  //! it touched in the batch; the batch is queued for the store and the call
  //! returns once it is durable. `change` returning an error must leave the
  //! model as it was (the model's methods check before they change); its error
  //! is returned and nothing is written. When the commit fails, the state in
  //! memory is replaced by what the store holds (Recover), so memory never
  //! keeps a change the store refused, and the error (503) is returned.
  Status Mutate(const std::function<Status(store::WriteBatch*)>& change);
  //! Queues `batch` (under mu_, held by the caller through `lock`), releases
  //! the lock and waits until it is durable; on failure, Recover.
  Status Commit(std::unique_lock<std::mutex>& lock, store::WriteBatch batch);
  //! After a failed commit: waits for every queued commit, then reloads the
  //! model, users and tokens from the store (keeping what is never stored:
  //! workers' status, hosts' addresses). If even that fails, every later
  //! change answers 503 with the reason, as a database with a background
  //! error refuses writes, until the server restarts.
  void Recover(const Status& why);
  //! Replaces memory with `snap` (under mu_).
  Status LoadLocked(const store::Snapshot& snap, bool keep_ephemeral);
  //! With --no-root-workers: kPermissionDenied, saying why, when the workers
  //! of `consumer` would run as root (call with mu_ held). The consumer's own
  //! existence is for the caller to check.
  Status RootWorkersAllowedLocked(const std::string& consumer) const;
  //! kResourceExhausted, saying so, when `who` (not an admin) already has
  //! --max-jobs-per-user jobs not ended (call with mu_ held). Trials count too.
  Status JobQuotaLocked(const Principal& who) const;
  // What the books' hooks share (call with mu_ held).
  //! A job's state and reason; nullopt if it does not exist.
  std::optional<std::pair<api::JobState, std::string>> JobStateLocked(JobId id) const;
  //! Cancels `id` if it has not ended, saying why (inside a Mutate).
  void CancelLocked(JobId id, const std::string& why, store::WriteBatch* batch);
  //! `user` with their rights as they are now; kPermissionDenied once they no longer exist.
  Result<Principal> UserLocked(const std::string& user) const;
  //! How the experiment book reaches the model (call with mu_ held).
  ExperimentBook::Hooks ExperimentHooksLocked();
  //! How the deployment book reaches the model and the router (call with mu_ held).
  DeploymentBook::Hooks DeploymentHooksLocked();
  //! Gives the inference router each deployment's ready replicas (call with mu_ held).
  void RefreshRoutesLocked();
  //! Where deployment `name` is called: the router's URL.
  std::string InferenceUrl(const std::string& name) const;
  //! Serves the inference router's port: authenticates, then routes (routes_deployments.cc).
  void ServeInference(httplib::Request& req, httplib::Response& res);
  //! Metric lines in the output of rank 0 that the agent sent (under mu_, inside a Mutate).
  void ScanMetricsLocked(const std::vector<api::LogChunk>& logs, double now, store::WriteBatch* batch);
  //! Revokes every token of `kind` held by `owner` (a user, an agent's host;
  //! "" for the join token), under mu_ inside a Mutate.
  void RevokeTokensLocked(const std::string& kind, const std::string& owner, store::WriteBatch* batch);

  ServerOptions opt_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<Router> router_;
  std::unique_ptr<HttpServer> http_;
  std::unique_ptr<sched::Policy> policy_;
  std::unique_ptr<LogStore> logs_;
  Metrics metrics_;

  //! The state changed: parked long polls look again (call with mu_ held; bumps version_).
  void Changed();
  //! A job's key-value store changed: parked reads look again.
  void KvChanged();

  std::mutex mu_;                    // guards everything below
  uint64_t version_ = 0;             // bumped by every change long polls may wait for
  ClusterModel model_;
  ExperimentBook experiments_;
  DeploymentBook deployments_;
  History history_;
  std::unique_ptr<serve::InferenceRouter> inference_;  // set before serving; thread-safe itself
  std::unique_ptr<HttpServer> inference_http_;
  std::thread inference_thread_;
  std::atomic<int> inference_port_{0};
  // The inference port's view of who may call what, so a request does not
  // wait for mu_ behind a scheduling cycle: each deployment's consumer
  // (written by RefreshRoutesLocked) and tokens resolved in the last
  // kInferenceAuthCacheSeconds (a revoked token stops working within that).
  std::mutex inference_acl_mu_;
  std::map<std::string, std::string> inference_consumers_;  // active deployment -> consumer
  std::map<std::string, std::pair<Principal, std::chrono::steady_clock::time_point>> inference_tokens_;  // by sha256
  //! Per job: where rank 0's output last scanned for metrics ended, and the unfinished line there.
  std::map<JobId, std::pair<uint64_t, std::string>> metric_tail_;
  std::map<std::string, store::TokenRecord> tokens_;  // by sha256
  std::map<std::string, store::UserRecord> users_;
  WorkerEnvContext env_ctx_;
  bool schedule_requested_ = true;
  std::condition_variable wake_scheduler_;
  bool stopping_ = false;
  std::shared_future<Status> last_commit_;  // the newest queued commit: every earlier one resolves first
  Status write_error_;                      // set when Recover failed: changes are refused
  std::map<std::string, double> stored_timers_;  // the policy's reclaim timers as last written

  std::mutex kv_mu_;                    // guards the two below; taken after mu_ if both are
  JobKvStore kv_;
  bool kv_stopping_ = false;

  std::thread scheduler_;
  std::atomic<int> bound_port_{0};
  std::vector<std::string> operations_;  // written before listening starts
};

//! Replaces the file at `path` with `text` (owner-only, 0600), atomically: a
//! reader sees the old contents or the new, never a part.
Status ReplaceSecretFile(const std::string& path, const std::string& text);

}  // namespace drover::server

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
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "server/cluster_model.h"
#include "server/kv_store.h"
#include "server/metrics.h"
#include "sched/policy.h"
#include "store/store.h"

namespace httplib {
class Server;
class Request;
class Response;
}  // namespace httplib

namespace drover::server {

struct ServerOptions {
  std::string data_dir = "drover-data";
  std::string host = "127.0.0.1";
  int port = 8080;
  std::string tls_cert, tls_key;
  std::string advertise_url;          //!< URL workers use to reach the server; default from host:port
  std::string policy = "drover";
  double heartbeat_timeout = 10;      //!< seconds without a sync before a host is down
  double worker_heartbeat_timeout = 10;  //!< seconds without a status post before a worker fails; 0: never
  double schedule_interval = 1;       //!< seconds between periodic scheduling cycles
  size_t max_body_bytes = 1 << 20;    //!< larger requests get 413
  int threads = 64;                   //!< HTTP worker threads (long polls hold one each)
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

 private:
  struct Call;  // one request's context
  void Routes();
  Status Bootstrap();
  void SchedulerLoop();
  void Trigger();
  double Now() const;
  //! Queues `batch` (under mu_, held by the caller through `lock`), releases
  //! the lock and waits until it is durable.
  Status Commit(std::unique_lock<std::mutex>& lock, store::WriteBatch batch);

  ServerOptions opt_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<httplib::Server> http_;
  std::unique_ptr<sched::Policy> policy_;
  Metrics metrics_;

  std::mutex mu_;                    // guards everything below
  std::condition_variable changed_;  // state changed: wakes long polls
  uint64_t version_ = 0;
  ClusterModel model_;
  std::map<std::string, store::TokenRecord> tokens_;  // by sha256
  std::map<std::string, store::UserRecord> users_;
  WorkerEnvContext env_ctx_;
  bool schedule_requested_ = true;
  std::condition_variable wake_scheduler_;
  bool stopping_ = false;

  std::mutex kv_mu_;                    // guards the three below; taken after mu_ if both are
  std::condition_variable kv_changed_;  // a key was set: wakes waiting reads
  JobKvStore kv_;
  bool kv_stopping_ = false;

  std::thread scheduler_;
  std::atomic<int> bound_port_{0};
  std::mutex log_mu_;  // serialises writes to job log files
};

}  // namespace drover::server

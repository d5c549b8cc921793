// Agent: the host agent's main loop (docs/agent-protocol.md).
//
// register -> { sync (long poll) -> reconcile } forever. Failures:
//  - server unreachable (or 5xx), while registering or syncing: log it, keep
//    every worker running, retry with exponential backoff (250 ms doubling to
//    5 s, and to no more than a third of the heartbeat timeout once
//    registered; jittered). After a server restart the next sync reports the
//    workers and the server adopts them.
//  - sync answered 401/404 (the server does not know this agent's token or
//    host, e.g. after losing its state): register again at once (with backoff
//    if that keeps happening); the workers keep running.
//  - register answered 400/401/403 (a field, or the join token, rejected):
//    fatal; Step() returns the error, Run() stops the workers and returns it.
//  - any other error answer (a 400 to a sync, a body that does not decode):
//    logged as an error, retried with backoff like an unreachable server.
//  - stop requested (SIGINT/SIGTERM in the CLI): stop every worker (SIGTERM,
//    SIGKILL after kill_grace_s), report their exits in one last sync if the
//    server is reachable, return OK.
// Thread safety: none. Run() (or Step()) on one thread that lives as long as
// the workers; `stop` may be set from any thread or a signal handler.
#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <string>

#include "agent/backoff.h"
#include "agent/gpu_discovery.h"
#include "agent/launcher.h"
#include "agent/reconciler.h"
#include "agent/server_client.h"

namespace drover::agent {

struct AgentOptions {
  std::string name;  //!< host name to register under
  std::string join_token;
  std::filesystem::path work_dir;  //!< workers run under <work_dir>/jobs/
  HostInventory inventory;
  std::string server;       //!< the server's URL, for messages only
  int sync_wait_ms = 1000;  //!< long-poll time asked of the server
  //! Least time between the starts of two syncs, so a server that answers at
  //! once (while a worker winds down, say) is not polled in a tight loop.
  std::chrono::milliseconds min_sync_interval{20};
  std::chrono::milliseconds backoff_initial{250};
  std::chrono::milliseconds backoff_max{5000};
  double backoff_jitter = 0.2;
  size_t max_log_bytes_per_sync = kMaxLogBytesPerSync;
  //! Where workers get their control groups (null: they run without limits).
  Cgroups* cgroups = nullptr;
};

class Agent {
 public:
  //! `client` and `launcher` must outlive the agent.
  Agent(AgentOptions options, ServerClient& client, Launcher& launcher);

  //! One turn: registers if needed, else one sync followed by reconciling.
  //! Returns how long to wait before the next turn (0 after a good sync; a
  //! backoff delay after a failure), or the fatal error of a rejected
  //! registration (kInvalidArgument, kUnauthenticated, kPermissionDenied).
  Result<std::chrono::milliseconds> Step();

  //! Steps until `stop` is true, polling the workers while it waits, then
  //! shuts down as the file comment says. Returns OK, or Step()'s fatal error.
  Status Run(const std::atomic<bool>& stop);

  //! Stops every worker and reports their exits in a last sync (best effort).
  void Shutdown();

  bool registered() const { return !agent_token_.empty(); }
  const std::string& host() const { return host_; }
  const Reconciler& reconciler() const { return reconciler_; }

 private:
  Result<std::chrono::milliseconds> Register();

  AgentOptions options_;
  ServerClient& client_;
  Reconciler reconciler_;
  Backoff backoff_;
  std::string agent_token_;  //!< empty while not registered
  std::string host_;
  int rejected_syncs_ = 0;  //!< 401/404 answers since the last good sync
};

}  // namespace drover::agent

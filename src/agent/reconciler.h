// Reconciler: makes this host run the server's desired set of workers and
// reports what it runs.
//
// Each turn of the agent's loop is BuildReport() -> (sync) -> Acknowledge() +
// Apply(response). The report lists every worker still running and every
// worker that exited since the last acknowledged report, with new log bytes
// (LogShipper). An exit is reported together with the last of its worker's
// output: until its log has been collected to the end, an exited worker is
// still reported as running, so the server never sees an exit before the output
// that explains it. Once a report with the exit is acknowledged the worker is
// forgotten.
//
// Apply() stops workers the response does not list (SIGTERM, SIGKILL after
// kill_grace_s) and starts listed ones that do not run, in
// <work dir>/jobs/<job>/<rank>/. Two rules keep it safe:
//  - a (job, rank, generation) that has exited is never started again by this
//    agent (a response sent before the server saw the exit may still list it);
//    the memory of it is dropped once a response no longer lists it;
//  - a worker whose GPUs overlap those of a worker still stopping, or with the
//    same (job, rank), starts only once that one has exited, so the two never
//    share a GPU or an output.log.
// A worker that cannot be started (work dir not writable, fork fails) is
// reported as exited with code 127 and pid 0.
//
// Thread safety: none; the agent's loop owns it. It calls the Launcher from
// that one thread (see ProcessLauncher on PR_SET_PDEATHSIG).
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "agent/cgroups.h"
#include "agent/launcher.h"
#include "agent/log_shipper.h"
#include "agent/protocol.h"

namespace drover::agent {

class Reconciler {
 public:
  //! `launcher` must outlive the reconciler.
  //! `cgroups` (may be null: no limits) must outlive the reconciler too.
  Reconciler(Launcher& launcher, std::filesystem::path work_dir,
             size_t max_log_bytes = kMaxLogBytesPerSync, Cgroups* cgroups = nullptr);

  //! Reaps exited workers and sends due SIGKILLs (Launcher::Poll). Cheap; the
  //! agent calls it while it waits.
  void Poll();
  //! Polls, then builds the next sync request. wait_ms is 0 when log bytes
  //! were left for later, so that the backlog drains without waiting.
  SyncRequest BuildReport(const std::string& host, int wait_ms);
  //! The server answered the last BuildReport()'s request: forgets the
  //! exits it carried and advances the log offsets.
  void Acknowledge();
  //! Starts and stops workers to match `response` (see the class comment).
  void Apply(const SyncResponse& response);
  //! Stops every worker (SIGTERM, SIGKILL after the last kill_grace_s) and
  //! waits for them. For shutdown; their exits go in the next report.
  void StopAll();

  //! Workers started and not yet exited.
  size_t running_count() const;
  std::chrono::milliseconds kill_grace() const { return kill_grace_; }
  //! Where the worker `key` runs: <work dir>/jobs/<job>/<rank>.
  std::filesystem::path WorkerDir(const WorkerKey& key) const;

 private:
  struct Worker {
    int pid = 0;
    std::vector<int> gpus;
    bool stopping = false;
    std::optional<WorkerExit> exit;
    bool oom_killed = false;      //!< the kernel killed it for memory (its cgroup says)
    bool exit_in_report = false;  //!< the exit went out in the last report
  };

  void OnExit(const WorkerExit& exit);
  //! A stopping worker that `want` must wait for, if any.
  const WorkerKey* Blocker(const DesiredWorker& want) const;
  void Start(const DesiredWorker& want);

  Cgroups* cgroups_ = nullptr;
  Launcher& launcher_;
  std::filesystem::path work_dir_;
  LogShipper shipper_;
  std::map<WorkerKey, Worker> workers_;
  std::map<int, WorkerKey> by_pid_;
  std::set<WorkerKey> finished_;  //!< exited generations, not to be started again
  std::chrono::milliseconds kill_grace_{10000};
};

}  // namespace drover::agent

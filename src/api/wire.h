// The messages that cross a process boundary between drover's parts, defined
// once for the server, the agent and the training runtime, with their JSON
// codecs (docs/agent-protocol.md and docs/openapi.yaml spell them out):
//
//   agent  -> server   RegisterRequest, SyncRequest (WorkerReport, LogChunk)
//   server -> agent    RegisterResponse, SyncResponse (DesiredWorker)
//   worker -> server   WorkerStatus
//   server -> worker   Membership (Member)
//
// Every Decode checks each field its reader relies on and names the one at
// fault ("workers[1].argv[0]: expected a string"); unknown fields are ignored
// so either side may add some. A request the server decodes fails with
// kInvalidArgument (the caller sent it); an answer a client decodes fails with
// kInternal, prefixed with what it was ("sync response: ..."), since a server
// that sends a bad one has a bug. Nothing here throws; Encode never fails
// (strings that are not UTF-8 are replaced, not thrown on).
//
// Thread safety: plain values and pure functions.
#pragma once

#include <compare>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "api/states.h"
#include "common/status.h"

namespace drover::api {

//! A worker incarnation: the server adopts a running worker by this triple,
//! so a generation is never started twice by the same agent.
struct WorkerKey {
  uint64_t job = 0;
  int rank = 0;  //!< the worker's slot in its job, stable for its life (RANK)
  uint64_t generation = 0;
  friend auto operator<=>(const WorkerKey&, const WorkerKey&) = default;
};
//! "job 12 rank 0 gen 3", for log lines.
std::string ToString(const WorkerKey& key);

// -- registration ----------------------------------------------------------

struct GpuInfo {
  int index = 0;
  std::string uuid;
  std::string name;
  int64_t memory_mib = 0;
  friend bool operator==(const GpuInfo&, const GpuInfo&) = default;
};

struct RegisterRequest {
  std::string name;           //!< 1..253 characters
  std::vector<GpuInfo> gpus;  //!< found through NVML; empty without it
  int gpu_slots = 0;          //!< GPUs the host offers: gpus.size() or --gpus N
  int cpus = 0;
  int64_t memory_mib = 0;
  std::string version;
  //! The agent token this agent held before (its restart, or a server that
  //! forgot it): proof that it is the host's agent. A host that is up may be
  //! registered again only with it.
  std::string previous_token;
  friend bool operator==(const RegisterRequest&, const RegisterRequest&) = default;
};

struct RegisterResponse {
  std::string host;         //!< the name the server knows this host by
  std::string agent_token;  //!< bearer token for sync
  int heartbeat_timeout_s = 10;
  friend bool operator==(const RegisterResponse&, const RegisterResponse&) = default;
};

// -- sync ------------------------------------------------------------------

//! What an agent knows of a worker's process. kStopping: no longer wanted, in
//! its SIGTERM grace period; the server neither counts it as running nor
//! waits for it.
enum class ProcessState { kRunning, kStopping, kExited };

struct WorkerReport {
  WorkerKey key;
  int pid = 0;
  ProcessState state = ProcessState::kRunning;
  int exit_code = 0;  //!< kExited only; 128 + signal when killed by one
  int signal = 0;     //!< kExited only; 0 unless killed by a signal
  bool oom_killed = false;  //!< kExited only: the kernel killed it for exceeding its memory limit
  friend bool operator==(const WorkerReport&, const WorkerReport&) = default;
};

//! New bytes of one worker's output. `offset` is their position in the
//! (job, rank)'s log, so a resend is idempotent.
struct LogChunk {
  WorkerKey key;
  uint64_t offset = 0;
  std::string data;  //!< valid UTF-8, same length as the bytes it stands for
  friend bool operator==(const LogChunk&, const LogChunk&) = default;
};

//! Longest long poll an agent may ask of the server's sync.
inline constexpr int kMaxSyncWaitMs = 30000;

struct SyncRequest {
  std::string host;
  int wait_ms = 1000;  //!< decoded clamped to [0, kMaxSyncWaitMs]
  std::vector<WorkerReport> workers;
  std::vector<LogChunk> logs;
  //! The agent is stopping (its last sync): the server marks the host down at
  //! once instead of at the heartbeat timeout.
  bool leaving = false;
  friend bool operator==(const SyncRequest&, const SyncRequest&) = default;
};

//! A worker as an agent should run it.
struct DesiredWorker {
  WorkerKey key;
  std::vector<std::string> argv;           //!< non-empty
  std::map<std::string, std::string> env;  //!< added to the agent's environment
  std::vector<int> gpus;                   //!< GPU indices it is given
  //! Its limits, from its job's request per worker (0: none): the agent holds it to them.
  int64_t cpu_millis = 0;
  int64_t memory_mib = 0;
  //! The OS user it runs as ("": the agent's own), from its consumer's run_as.
  std::string run_as;
  friend bool operator==(const DesiredWorker&, const DesiredWorker&) = default;
};

struct SyncResponse {
  std::vector<DesiredWorker> workers;  //!< the complete desired set for this host
  int kill_grace_s = 10;
  friend bool operator==(const SyncResponse&, const SyncResponse&) = default;
};

// -- the training runtime --------------------------------------------------

//! A worker's status post: heartbeat, readiness, progress, a resize it went through.
//! What a training worker measured over its steps since its last post, at
//! the world size it posts: what the server's model of the job's throughput
//! and gradient noise learns from (sched/goodput_model.h).
struct StepPerf {
  int64_t steps = 0;        //!< steps measured
  double global_batch = 0;  //!< samples per optimizer step, all workers
  double local_batch = 0;   //!< samples per step on this worker
  double step_s = 0;        //!< mean seconds per step
  double compute_s = 0;     //!< of which forward and backward (not waiting for the all-reduce)
  //! Squared norms of this worker's mean gradient before the all-reduce and
  //! of the reduced one, smoothed over steps: the gradient noise's raw
  //! measure (sched::EstimateNoise). Absent on one worker.
  std::optional<double> local_grad_sqr, global_grad_sqr;
  //! The largest global batch the runtime may choose (its adaptive batch
  //! mode); absent when the batch is fixed.
  std::optional<double> max_batch;
  friend bool operator==(const StepPerf&, const StepPerf&) = default;
};

struct WorkerStatus {
  int64_t generation = 0;  //!< the membership generation the worker has joined
  bool ready = false;
  std::optional<int64_t> step, epoch;
  std::optional<double> loss, samples_per_s;
  //! Samples still to train before the length it was given (its epochs or
  //! its steps, whichever ends first); absent when it has no end.
  std::optional<double> samples_left;
  std::optional<int> world_size;
  //! An inference replica's port on its host, posted once it serves.
  std::optional<int> port;
  struct Rescale {
    int from = 0;
    int to = 0;
    double pause_ms = 0;
    friend bool operator==(const Rescale&, const Rescale&) = default;
  };
  std::optional<Rescale> rescale;
  std::optional<StepPerf> perf;
  //! Asks the server to open a new generation if the job is still at
  //! `generation` (the group failed but no member is known to be gone).
  bool regroup = false;
  friend bool operator==(const WorkerStatus&, const WorkerStatus&) = default;
};

struct Member {
  int slot = 0;              //!< the worker's RANK
  int64_t generation = 0;    //!< the generation it was (re)started at
  std::string host;
  std::string address;       //!< how other hosts reach its host
  WorkerState state = WorkerState::kAssigned;
  bool ready = false;
  friend bool operator==(const Member&, const Member&) = default;
};

//! A job's membership as its workers see it: the generation changes whenever
//! the worker set does.
struct Membership {
  uint64_t job = 0;
  JobState job_state = JobState::kPending;
  int64_t generation = 0;
  std::vector<Member> members;  //!< in the order the server lists them (by slot)
  friend bool operator==(const Membership&, const Membership&) = default;

  //! The index of `slot` among the members not exited, or -1: its rank in the group.
  int RankOf(int slot) const;
  //! Training is over: the job ended or was preempted.
  bool Terminal() const;
  //! Every member not exited has reported ready (a long poll with `ready`
  //! may return at its timeout before that).
  bool AllReady() const;
};

// -- codecs ----------------------------------------------------------------

std::string Encode(const RegisterRequest& m);
std::string Encode(const RegisterResponse& m);
std::string Encode(const SyncRequest& m);
std::string Encode(const SyncResponse& m);
std::string Encode(const WorkerStatus& m);
std::string Encode(const Membership& m);

//! Requests (kInvalidArgument naming the field).
Result<RegisterRequest> DecodeRegisterRequest(const std::string& body);
Result<SyncRequest> DecodeSyncRequest(const std::string& body);
//! Only `generation` is required; an absent or null field is not reported.
Result<WorkerStatus> DecodeWorkerStatus(const std::string& body);
//! Answers (kInternal, "register response: ...").
Result<RegisterResponse> DecodeRegisterResponse(const std::string& body);
Result<SyncResponse> DecodeSyncResponse(const std::string& body);
Result<Membership> DecodeMembership(const std::string& body);

}  // namespace drover::api

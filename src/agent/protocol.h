// The agent <-> server messages of docs/agent-protocol.md (v1) as plain
// structs, with their JSON encodings. Decoding checks every field the agent
// relies on and names the one at fault; unknown fields are ignored so the
// server may add some. Thread safety: plain values and pure functions.
#pragma once

#include <compare>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/status.h"

namespace drover::agent {

//! A worker's identity. The server adopts a running worker by this triple,
//! so a generation is never started twice by the same agent.
struct WorkerKey {
  uint64_t job = 0;
  int rank = 0;
  uint64_t generation = 0;
  friend auto operator<=>(const WorkerKey&, const WorkerKey&) = default;
};
//! "job 12 rank 0 gen 3", for log lines.
std::string ToString(const WorkerKey& key);

struct GpuInfo {
  int index = 0;
  std::string uuid;
  std::string name;
  int64_t memory_mib = 0;
  friend bool operator==(const GpuInfo&, const GpuInfo&) = default;
};

struct RegisterRequest {
  std::string name;
  std::vector<GpuInfo> gpus;  //!< found through NVML; empty without it
  int gpu_slots = 0;          //!< GPUs the host offers: gpus.size() or --gpus N
  int cpus = 0;
  int64_t memory_mib = 0;
  std::string version;
};

struct RegisterResponse {
  std::string host;         //!< the name the server knows this host by
  std::string agent_token;  //!< bearer token for sync
  int heartbeat_timeout_s = 10;
};

//! kStopping: no longer wanted, in its SIGTERM grace period; the server
//! neither counts it as running nor waits for it.
enum class WorkerState { kRunning, kStopping, kExited };

struct WorkerReport {
  WorkerKey key;
  int pid = 0;
  WorkerState state = WorkerState::kRunning;
  int exit_code = 0;  //!< kExited only; 128 + signal when killed by one
  int signal = 0;     //!< kExited only; 0 unless killed by a signal
};

//! New bytes of one worker's output. `offset` is their position in the
//! (job, rank)'s log, so a resend is idempotent. `generation` is an addition
//! to the v1 example, which names only job and rank.
struct LogChunk {
  WorkerKey key;
  uint64_t offset = 0;
  std::string data;  //!< valid UTF-8, same length as the bytes it stands for
};

struct SyncRequest {
  std::string host;
  int wait_ms = 1000;
  std::vector<WorkerReport> workers;
  std::vector<LogChunk> logs;
  //! The agent is stopping (its last sync): the server marks the host down at
  //! once instead of at the heartbeat timeout.
  bool leaving = false;
};

struct DesiredWorker {
  WorkerKey key;
  std::vector<std::string> argv;           //!< non-empty
  std::map<std::string, std::string> env;  //!< added to the agent's environment
  std::vector<int> gpus;                   //!< GPU indices it is given
};

struct SyncResponse {
  std::vector<DesiredWorker> workers;  //!< the complete desired set for this host
  int kill_grace_s = 10;
};

std::string EncodeRegisterRequest(const RegisterRequest& request);
std::string EncodeSyncRequest(const SyncRequest& request);
//! Errors: kInternal naming the field when the body is not a valid response.
Result<RegisterResponse> DecodeRegisterResponse(const std::string& body);
Result<SyncResponse> DecodeSyncResponse(const std::string& body);

}  // namespace drover::agent

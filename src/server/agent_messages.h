// The server's side of docs/agent-protocol.md: decoding what agents send, and
// what workers' training runtimes post about themselves. Every field is
// checked and a bad one is named; nothing here throws.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "server/cluster_model.h"
#include "store/store.h"

namespace drover::server {

struct LogChunkIn {
  JobId job = 0;
  int rank = 0;
  uint64_t offset = 0;
  std::string data;
};

struct SyncReport {
  std::vector<ReportedWorker> workers;
  std::vector<LogChunkIn> logs;
  int wait_ms = 1000;  //!< clamped to [0, 30000]
  bool leaving = false;  //!< the agent is stopping: this is its last sync
};

//! POST /api/v1/agent/register body -> the host (capacity, GPUs). kInvalidArgument naming the field.
Result<store::HostRecord> DecodeRegistration(const std::string& body);
//! POST /api/v1/agent/sync body -> report. kInvalidArgument naming the field.
Result<SyncReport> DecodeSyncReport(const std::string& body);
//! POST /api/v1/jobs/{id}/workers/{rank}/status body -> the status. Only
//! `generation` is required; an absent or null field is not reported.
//! kInvalidArgument naming the field.
Result<WorkerStatus> DecodeWorkerStatus(const std::string& body);

}  // namespace drover::server

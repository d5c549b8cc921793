// JobClient: a worker's view of its job on the drover server — membership,
// status reports, and the job's key-value space for rendezvous.
//
// Environment (set by the agent for every worker): DROVER_SERVER (URL),
// DROVER_TOKEN (job-scoped worker token), DROVER_JOB_ID, RANK (this worker's
// slot in the job, stable for the worker's life). Endpoints used:
//   GET  /api/v1/jobs/{id}/members?after=G&ready=1&wait_ms=W
//   POST /api/v1/jobs/{id}/workers/{rank}/status
//   PUT|GET|POST|DELETE /api/v1/jobs/{id}/kv/{key}
//
// Thread safety: none; one call at a time per JobClient (it holds one
// keep-alive connection). Threads that need to call concurrently (a
// membership watcher, a heartbeat) each use their own JobClient.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "api/wire.h"
#include "common/status.h"
#include "train/key_value.h"

namespace httplib {
class Client;
}

namespace drover::train {

struct WorkerEnv {
  std::string server;
  std::string token;
  uint64_t job = 0;
  //! This worker's slot (RANK at launch), not its rank in the current group.
  int slot = 0;
  bool insecure = false;
  std::string ca_cert;  //!< DROVER_CA_CERT: the CA to verify the server with (the agent's --ca-cert)
};
//! Reads DROVER_SERVER, DROVER_TOKEN, DROVER_JOB_ID and RANK (and
//! DROVER_INSECURE=1 to skip TLS verification). NotFound when DROVER_SERVER
//! is unset (not running under drover); InvalidArgument naming a malformed one.
Result<WorkerEnv> WorkerEnvFromEnvironment();

// The messages exchanged with the server, defined once in api/wire.h.
using api::Member;
using api::Membership;
using api::WorkerStatus;

class JobClient : public KeyValue {
 public:
  //! InvalidArgument for a bad server URL.
  static Result<std::unique_ptr<JobClient>> Create(const WorkerEnv& env);
  ~JobClient() override;

  //! The membership now (after < 0), or once the generation exceeds `after`
  //! (with `ready`: and every member has reported ready), or at `wait`.
  //! Exited members are left out; the rest are sorted by slot.
  Result<Membership> Members(int64_t after, bool ready, std::chrono::milliseconds wait);
  //! Heartbeat and progress. NotFound once this worker is no longer a member.
  //! Returns the job's current generation.
  Result<int64_t> PostStatus(const WorkerStatus& status);

  Status Set(const std::string& key, const std::vector<uint8_t>& value) override;
  Result<std::vector<uint8_t>> Get(const std::string& key, std::chrono::milliseconds wait) override;
  Result<int64_t> Add(const std::string& key, int64_t delta) override;
  Result<bool> Delete(const std::string& key) override;
  Result<int64_t> NumKeys() override;

  const WorkerEnv& env() const { return env_; }

 private:
  JobClient(WorkerEnv env, std::string prefix, std::unique_ptr<httplib::Client> client);
  //! The answer's body on 2xx, else the mapped error naming `what`.
  Result<std::string> Call(const std::string& method, const std::string& path, const std::string& body,
                           const std::string& content_type, std::chrono::milliseconds read_timeout,
                           const std::string& what);
  std::string JobPath() const;

  WorkerEnv env_;
  std::string prefix_;
  std::unique_ptr<httplib::Client> client_;
};

}  // namespace drover::train

// What a worker is launched with besides its job's command and environment:
// its place in the job (RANK, WORLD_SIZE, LOCAL_RANK), where to rendezvous
// (MASTER_ADDR, MASTER_PORT), its devices (CUDA_VISIBLE_DEVICES) and how to
// reach the server as its job (DROVER_SERVER, DROVER_TOKEN). Pure functions.
#pragma once

#include <map>
#include <string>

#include "common/job.h"
#include "store/store.h"

namespace drover::server {

//! Everything needed to build the environment of a worker that the model does not hold.
struct WorkerEnvContext {
  std::string server_url;
  std::string job_token_secret;  //!< HMAC key for job-scoped tokens
  //! The user workers run as when their consumer names none (--default-run-as); "": the agent's own.
  std::string default_run_as;
};

//! The job-scoped token a worker of `job` gets: "drv_w_<id>_<HMAC-SHA256(id)>".
std::string JobToken(JobId job, const std::string& secret);

//! The variables drover sets for worker `w` of `job`, the `local_rank`-th of
//! the job on its host; `master_addr` is the address of the job's first
//! worker's host. They override the job's own variables of the same name.
std::map<std::string, std::string> LaunchEnvironment(const store::JobRecord& job, const store::WorkerRecord& w,
                                                     int world_size, int local_rank, const std::string& master_addr,
                                                     const WorkerEnvContext& ctx);

}  // namespace drover::server

#include "server/launch_env.h"

#include <openssl/hmac.h>

#include <cstdio>

namespace drover::server {

std::string JobToken(JobId job, const std::string& secret) {
  std::string id = std::to_string(job);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(id.data()), id.size(), md, &len);
  std::string hex;
  char buf[3];
  for (unsigned i = 0; i < len; ++i) {
    std::snprintf(buf, sizeof buf, "%02x", md[i]);
    hex += buf;
  }
  return "drv_w_" + id + "_" + hex;
}

std::map<std::string, std::string> LaunchEnvironment(const store::JobRecord& job, const store::WorkerRecord& w,
                                                     int world_size, int local_rank, const std::string& master_addr,
                                                     const WorkerEnvContext& ctx) {
  std::string gpus;
  for (int g : w.gpus) gpus += (gpus.empty() ? "" : ",") + std::to_string(g);
  return {{"DROVER_JOB_ID", std::to_string(job.id)},
          {"RANK", std::to_string(w.rank)},
          {"WORLD_SIZE", std::to_string(world_size)},
          {"LOCAL_RANK", std::to_string(local_rank)},
          {"MASTER_ADDR", master_addr.empty() ? "127.0.0.1" : master_addr},
          {"MASTER_PORT", std::to_string(job.master_port)},
          {"CUDA_VISIBLE_DEVICES", gpus},
          {"DROVER_SERVER", ctx.server_url},
          {"DROVER_TOKEN", JobToken(job.id, ctx.job_token_secret)}};
}

}  // namespace drover::server

// Tokens and who is calling.
//
// Tokens are 32 random bytes (OpenSSL RAND_bytes), hex-encoded, with a prefix
// naming their kind ("drv_u_" user, "drv_a_" agent, "drv_j_" join, "drv_w_"
// worker); only their SHA-256 is stored. A request's bearer token resolves to
// a Principal: an admin, a user with the consumer subtrees they belong to, an
// agent of one host, a worker of one job, or the join token.
#pragma once

#include <string>
#include <vector>

#include "common/job.h"

namespace drover::server {

enum class Role { kAdmin, kUser, kAgent, kJoin, kWorker };

struct Principal {
  Role role = Role::kUser;
  std::string name;                    //!< user name, or host name for an agent
  std::vector<std::string> consumers;  //!< subtrees a user may act in
  JobId job = 0;                       //!< for a worker token
};

//! A fresh token of `kind` ("u", "a", "j", "w").
std::string NewToken(const std::string& kind);
//! Lowercase hex SHA-256.
std::string Sha256Hex(const std::string& data);
//! True when `path` is `root` or lies below it ("/a/b" is within "/a", not "/ab").
bool PathWithin(const std::string& path, const std::string& root);
//! Whether `who` may see and act on work in `consumer`: admins everywhere,
//! users inside their subtrees, nobody else.
bool MayUse(const Principal& who, const std::string& consumer);
//! Whether `who` may see job `job` of `consumer`: as MayUse, and a worker its own job.
bool MaySeeJob(const Principal& who, JobId job, const std::string& consumer);

}  // namespace drover::server

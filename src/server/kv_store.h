// JobKvStore: each job's key-value store for its workers' rendezvous (the
// c10d store the elastic training runtime uses, served over HTTP).
//
// In memory only: the data is ephemeral rendezvous state, rebuilt by the
// workers, so a server restart simply loses it. Each job's space belongs to one
// incarnation of the job (its restart count): asked with a newer one, the
// space starts empty, and the server drops the spaces of jobs that ended.
// Limits per job: kMaxKeys keys and kMaxValueBytes bytes of values.
//
// Not thread-safe: the server guards it with its own mutex.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/job.h"
#include "common/status.h"

namespace drover::server {

class JobKvStore {
 public:
  static constexpr size_t kMaxKeyBytes = 512;
  static constexpr size_t kMaxKeys = 16384;
  static constexpr size_t kMaxValueBytes = size_t{64} << 20;

  //! Sets `key`; kInvalidArgument for a key that is too long, kResourceExhausted over a limit.
  Status Set(JobId job, int64_t incarnation, const std::string& key, std::string value);
  std::optional<std::string> Get(JobId job, int64_t incarnation, const std::string& key);
  //! Adds `delta` to the decimal integer stored at `key` (absent: 0), stores
  //! the sum as decimal text and returns it.
  Result<int64_t> Add(JobId job, int64_t incarnation, const std::string& key, int64_t delta);
  //! True if the key existed.
  bool Erase(JobId job, int64_t incarnation, const std::string& key);
  size_t Count(JobId job, int64_t incarnation);
  //! Bytes of values `job`'s space holds now (0 without one).
  size_t Bytes(JobId job) const {
    auto it = spaces_.find(job);
    return it == spaces_.end() ? 0 : it->second.bytes;
  }
  //! Forgets a job's space.
  void Drop(JobId job) { spaces_.erase(job); }
  //! The jobs that have a space, for pruning.
  std::vector<JobId> Jobs() const;

 private:
  struct Space {
    int64_t incarnation = 0;
    std::map<std::string, std::string> values;
    size_t bytes = 0;  //!< of values
  };
  Space& At(JobId job, int64_t incarnation);
  static Status CheckKey(const std::string& key);

  std::map<JobId, Space> spaces_;
};

}  // namespace drover::server

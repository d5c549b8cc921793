#include "server/kv_store.h"

#include <cerrno>
#include <cstdlib>
#include <vector>

namespace drover::server {

JobKvStore::Space& JobKvStore::At(JobId job, int64_t incarnation) {
  Space& s = spaces_[job];
  if (s.incarnation < incarnation) s = Space{incarnation, {}, 0};  // the job restarted: its rendezvous starts over
  return s;
}

Status JobKvStore::CheckKey(const std::string& key) {
  if (key.empty() || key.size() > kMaxKeyBytes) {
    return InvalidArgument("key: expected 1 to " + std::to_string(kMaxKeyBytes) + " bytes, got " +
                           std::to_string(key.size()));
  }
  return Status::Ok();
}

Status JobKvStore::Set(JobId job, int64_t incarnation, const std::string& key, std::string value) {
  DROVER_RETURN_IF_ERROR(CheckKey(key));
  Space& s = At(job, incarnation);
  auto it = s.values.find(key);
  size_t old = it == s.values.end() ? 0 : it->second.size();
  if (it == s.values.end() && s.values.size() >= kMaxKeys) {
    return Status(StatusCode::kResourceExhausted, "job " + std::to_string(job) + "'s key-value store already holds " +
                                                      std::to_string(kMaxKeys) + " keys, the most allowed");
  }
  if (s.bytes - old + value.size() > kMaxValueBytes) {
    return Status(StatusCode::kResourceExhausted, "job " + std::to_string(job) + "'s key-value store would hold " +
                                                      std::to_string(s.bytes - old + value.size()) +
                                                      " bytes of values, above the limit of 64 MiB");
  }
  s.bytes = s.bytes - old + value.size();
  s.values[key] = std::move(value);
  return Status::Ok();
}

std::optional<std::string> JobKvStore::Get(JobId job, int64_t incarnation, const std::string& key) {
  Space& s = At(job, incarnation);
  auto it = s.values.find(key);
  if (it == s.values.end()) return std::nullopt;
  return it->second;
}

Result<int64_t> JobKvStore::Add(JobId job, int64_t incarnation, const std::string& key, int64_t delta) {
  DROVER_RETURN_IF_ERROR(CheckKey(key));
  int64_t value = 0;
  if (std::optional<std::string> old = Get(job, incarnation, key)) {
    char* end = nullptr;
    errno = 0;
    long long v = std::strtoll(old->c_str(), &end, 10);
    if (old->empty() || *end || errno == ERANGE) {
      return InvalidArgument("key " + key + " holds a value that is not a decimal integer");
    }
    value = v;
  }
  if (__builtin_add_overflow(value, delta, &value)) {
    return InvalidArgument("add: the sum overflows a 64-bit integer");
  }
  DROVER_RETURN_IF_ERROR(Set(job, incarnation, key, std::to_string(value)));
  return value;
}

bool JobKvStore::Erase(JobId job, int64_t incarnation, const std::string& key) {
  Space& s = At(job, incarnation);
  auto it = s.values.find(key);
  if (it == s.values.end()) return false;
  s.bytes -= it->second.size();
  s.values.erase(it);
  return true;
}

size_t JobKvStore::Count(JobId job, int64_t incarnation) { return At(job, incarnation).values.size(); }

std::vector<JobId> JobKvStore::Jobs() const {
  std::vector<JobId> out;
  for (const auto& [id, s] : spaces_) out.push_back(id);
  return out;
}

}  // namespace drover::server

// Small helpers the ClusterModel's files share (cluster_model.cc,
// model_hosts.cc, model_runtime.cc, model_schedule.cc) and the books that make
// jobs through it (deployments.cc); not part of its interface.
#pragma once

#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "server/cluster_model.h"

namespace drover::server::model_util {

inline bool Waiting(JobState s) { return s == kPending || s == kPreempted; }

// A job keeps this many resizes; older ones are dropped (one job must not grow without bound).
constexpr size_t kMaxRescales = 100;

inline void AddRescale(Job& job, const Rescale& r) {
  job.rec.rescales.push_back(r);
  if (job.rec.rescales.size() > kMaxRescales) {
    job.rec.rescales.erase(job.rec.rescales.begin(), job.rec.rescales.end() - static_cast<std::ptrdiff_t>(kMaxRescales));
  }
}

inline std::string Secs(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.0fs", s);
  return buf;
}

//! Numbers joined by commas: "0,1,3".
template <typename T>
std::string Joined(const std::vector<T>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ",") + std::to_string(x);
  return s;
}

inline std::string Plural(int n, const char* what) { return std::to_string(n) + " " + what + (n == 1 ? "" : "s"); }

inline std::string Describe(const std::vector<store::WorkerRecord>& workers) {
  std::map<std::string, int> per_host;
  for (const auto& w : workers) ++per_host[w.host];
  std::string s;
  for (const auto& [h, n] : per_host) s += (s.empty() ? "" : ", ") + h + ": " + std::to_string(n);
  return s;
}

}  // namespace drover::server::model_util

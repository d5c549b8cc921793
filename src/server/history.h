// History: the time series behind the console's charts — the cluster's
// hosts, GPUs and jobs, each consumer's GPUs against its plan, each running
// job's progress, each deployment's load — kept in the store so they outlive
// a restart, at two resolutions with bounded retention so a long history
// does not grow without end or slow a page.
//
//   History h(options);
//   if (h.Due(now)) h.Record(now, {{"cluster", {{"gpus_used", 3}}}, ...}, &batch);
//   h.Resolution(since, now)   // which stored resolution answers a read from `since`
//
// Every `interval` seconds the server takes one sample of every series; each
// is stored as is ("fine") and kept for `fine_keep` seconds, and averaged
// into buckets of `coarse` seconds, stored when a bucket closes and kept for
// `keep` seconds. Old rows are pruned with the batch that adds new ones.
//
// Pure: time comes in as an argument; the caller commits the batch. Not
// thread-safe (the server calls it under its lock).
#pragma once

#include <map>
#include <string>

#include "store/store.h"

namespace drover::server {

struct HistoryOptions {
  double interval = 10;          //!< seconds between samples; 0: no history
  double fine_keep = 6 * 3600;   //!< how long samples are kept as taken
  double coarse = 300;           //!< the averaged resolution (a multiple of interval)
  double keep = 30 * 86400;      //!< how long averaged samples are kept
};

class History {
 public:
  using Values = std::map<std::string, double>;

  explicit History(HistoryOptions options) : opt_(options) {}

  //! Whether a sample is due at `now`.
  bool Due(double now) const { return opt_.interval > 0 && now >= next_; }
  //! Records one sample of each series at `now`: the samples themselves, the
  //! averages of every coarse bucket that `now` closes, and the prunes.
  void Record(double now, const std::map<std::string, Values>& samples, store::WriteBatch* batch);
  //! Forgets the coarse buckets being averaged (after a failed commit, so
  //! nothing the store refused is averaged in).
  void Reset() { open_.clear(); }
  //! The resolution that answers a read of the history since `since`: the
  //! fine one while it reaches back that far, else the coarse one.
  double Resolution(double since, double now) const {
    return since >= now - opt_.fine_keep ? opt_.interval : opt_.coarse;
  }
  const HistoryOptions& options() const { return opt_; }

 private:
  struct Bucket {
    double start = 0;
    Values sum;
    std::map<std::string, int> count;
  };
  HistoryOptions opt_;
  double next_ = 0;
  std::map<std::string, Bucket> open_;  // by series
};

}  // namespace drover::server

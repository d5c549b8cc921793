// Early stopping: whether a running trial that just reported should stop, so
// its GPUs go to a more promising one.
//
//   asha       Asynchronous successive halving (Li et al. 2020), stopping
//              variant: rungs at r_min * eta^k below r_max; a trial reaching
//              a rung continues only if its loss there is within the best
//              1/eta of the losses recorded at that rung so far (itself
//              included; the first at a rung always continues). No trial
//              waits for others: decisions use what has been recorded.
//   hyperband  Asynchronous Hyperband: brackets s = 0..s_max (s_max =
//              floor(log_eta(r_max / r_min))), bracket s with its first rung
//              at r_min * eta^s, each run as ASHA among its own trials; new
//              trials are dealt to brackets in proportion to Hyperband's
//              trial counts, ceil((s_max + 1) / (a + 1) * eta^a) with
//              a = s_max - s (r_max 9, eta 3: 9, 5 and 3 trials).
//   median     The median stopping rule (Golovin et al. 2017, Vizier): at
//              resource r >= r_min, a trial whose best loss so far is worse
//              than the median of the other trials' mean losses up to r (of
//              at least 3 trials that reached r) stops.
//
// Losses are minimised (a maximised metric is negated). Pure: every call gets
// all trials' curves, so nothing is lost when the server restarts.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace drover::hpo {

//! One trial's reports, in the order they came: (resource, loss).
struct Curve {
  int trial = 0;
  int bracket = 0;
  std::vector<std::pair<double, double>> points;
  int judged = -1;  //!< the highest rung already judged (and passed); -1: none
};

struct Verdict {
  bool stop = false;
  int rung = -1;       //!< the highest rung the trial has reached and passed; -1: none
  std::string reason;  //!< why it stops, for `drover exp show`
};

struct StoppingOptions {
  double min_resource = 1;
  double max_resource = 1;
  double eta = 3;  //!< the reduction factor
  // For reasons only: what the user calls the metric and the resource, and
  // whether losses are a maximised metric negated (reasons show the metric).
  std::string metric = "loss";
  std::string resource = "resource";
  bool maximize = false;
};

class EarlyStopper {
 public:
  virtual ~EarlyStopper() = default;
  //! Whether `curves[i]`, which just reported its last point, stops now.
  virtual Verdict Judge(const std::vector<Curve>& curves, size_t i) const = 0;
  //! The bracket the `n`-th trial (0-based) of an experiment runs in.
  virtual int BracketOf(int64_t n) const { return 0; }
};

//! A number as reasons show it: at most 4 significant digits ("0.6333", "1e-05").
std::string ShortNumber(double v);

//! "asha", "hyperband" or "median"; kInvalidArgument naming the field for
//! another name, r_min <= 0, r_max < r_min, or eta < 2.
Result<std::unique_ptr<EarlyStopper>> MakeEarlyStopper(const std::string& name, const StoppingOptions& options);

}  // namespace drover::hpo

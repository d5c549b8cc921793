// The experiment controller: from an experiment's trials and their reported
// metrics to what should happen next — start trials, stop trials early,
// finish the experiment. It never calls the server: the server stores the
// trials, applies the actions (submitting and cancelling jobs) and calls
// Advance again whenever a trial reports, ends, or time passes.
//
// Pure and restartable: every decision is a function of the stored trials
// and the time, and the sampler's randomness for trial n comes from the seed
// and n alone, so a server restarted from its store carries on with the same
// suggestions, and starts no trial twice (trials are stored with the batch
// that submits their jobs). Thread safety: none; one caller at a time.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "hpo/early_stopping.h"
#include "hpo/sampler.h"
#include "hpo/search_space.h"

namespace drover::hpo {

struct ControllerConfig {
  SearchSpace space;
  std::string sampler = "tpe";  //!< random | grid | tpe
  std::string early_stopping;   //!< "" | asha | hyperband | median
  StoppingOptions stopping;     //!< its metric and maximize are set from the fields below
  std::string metric;           //!< for messages
  bool maximize = true;
  int max_trials = 10;
  int max_parallel = 1;
  int max_failed = 3;
  double max_time_s = 0;  //!< 0: none
  uint64_t seed = 0;
};

enum class TrialState { kRunning, kSucceeded, kStopped, kFailed };

struct TrialView {
  int index = 0;
  Config config;
  int bracket = 0;
  TrialState state = TrialState::kRunning;
  //! (resource, metric value) as reported, in order.
  std::vector<std::pair<double, double>> curve;
  int rung = -1;  //!< early stopping: the highest rung it passed (Action kRung); -1: none
};

struct Action {
  //! kRung: a running trial passed rung `rung`; keep it in TrialView::rung.
  enum class Kind { kStart, kStop, kRung, kFinish };
  Kind kind = Kind::kStart;
  int trial = -1;      //!< kStart: the new trial's index; kStop: the trial to stop
  Config config;       //!< kStart
  int bracket = 0;     //!< kStart
  std::string reason;  //!< kStop, kFinish: for the user
  bool failed = false; //!< kFinish: the experiment failed (too many failed trials)
  int rung = -1;       //!< kRung
};

class Controller {
 public:
  //! kInvalidArgument from the sampler or the early-stopping rule.
  static Result<std::unique_ptr<Controller>> Make(ControllerConfig config);

  //! What to do now, `elapsed_s` after the experiment started, given every
  //! trial so far (indices 0..n-1, in order). A kFinish comes last, after
  //! stops of any trials still running.
  std::vector<Action> Advance(const std::vector<TrialView>& trials, double elapsed_s);

  //! The trial with the best last reported value; none before any report.
  std::optional<int> Best(const std::vector<TrialView>& trials) const;

 private:
  explicit Controller(ControllerConfig c) : c_(std::move(c)) {}
  double Loss(double value) const { return c_.maximize ? -value : value; }
  ControllerConfig c_;
  std::unique_ptr<Sampler> sampler_;
  std::unique_ptr<EarlyStopper> stopper_;  //!< null without early stopping
};

}  // namespace drover::hpo

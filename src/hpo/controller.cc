#include "hpo/controller.h"


namespace drover::hpo {
Result<std::unique_ptr<Controller>> Controller::Make(ControllerConfig config) {
  config.stopping.metric = config.metric;  // the stopping rule's reasons speak of the user's metric
  config.stopping.maximize = config.maximize;
  std::unique_ptr<Controller> c(new Controller(std::move(config)));
  auto sampler = MakeSampler(c->c_.sampler, c->c_.space, {.seed = c->c_.seed});
  if (!sampler.ok()) return sampler.status();
  c->sampler_ = std::move(sampler).value();
  if (!c->c_.early_stopping.empty()) {
    auto stopper = MakeEarlyStopper(c->c_.early_stopping, c->c_.stopping);
    if (!stopper.ok()) return stopper.status();
    c->stopper_ = std::move(stopper).value();
  }
  return c;
}

std::optional<int> Controller::Best(const std::vector<TrialView>& trials) const {
  std::optional<int> best;
  for (const TrialView& t : trials) {
    if (t.curve.empty()) continue;
    if (!best || Loss(t.curve.back().second) < Loss(trials[*best].curve.back().second)) best = t.index;
  }
  return best;
}

std::vector<Action> Controller::Advance(const std::vector<TrialView>& trials, double elapsed_s) {
  std::vector<Action> actions;
  std::vector<bool> running(trials.size());
  int n_running = 0, n_failed = 0;
  for (size_t i = 0; i < trials.size(); ++i) {
    running[i] = trials[i].state == TrialState::kRunning;
    n_running += running[i];
    n_failed += trials[i].state == TrialState::kFailed;
  }
  auto stop_all = [&](const std::string& why) {
    for (size_t i = 0; i < trials.size(); ++i) {
      if (running[i]) actions.push_back({Action::Kind::kStop, trials[i].index, {}, 0, why, false});
    }
  };
  if (n_failed >= c_.max_failed) {
    const std::string why = std::to_string(n_failed) + " trials failed (max_failed_trials " +
                            std::to_string(c_.max_failed) + ")";
    stop_all("the experiment failed: " + why);
    actions.push_back({Action::Kind::kFinish, -1, {}, 0, why, true});
    return actions;
  }
  if (c_.max_time_s > 0 && elapsed_s >= c_.max_time_s) {
    stop_all("the experiment reached its max_time");
    actions.push_back({Action::Kind::kFinish, -1, {}, 0, "reached max_time (" + ShortNumber(c_.max_time_s) + " s)", false});
    return actions;
  }

  // Early stopping: each running trial judged on its latest report.
  if (stopper_) {
    std::vector<Curve> curves;
    for (const TrialView& t : trials) {
      Curve c{t.index, t.bracket, {}, t.rung};
      for (const auto& [r, v] : t.curve) c.points.push_back({r, Loss(v)});
      curves.push_back(std::move(c));
    }
    for (size_t i = 0; i < trials.size(); ++i) {
      if (!running[i] || trials[i].curve.empty()) continue;
      Verdict v = stopper_->Judge(curves, i);
      if (!v.stop) {
        if (v.rung > trials[i].rung) {
          Action passed{Action::Kind::kRung, trials[i].index, {}, 0, "", false};
          passed.rung = v.rung;
          actions.push_back(passed);
        }
        continue;
      }
      actions.push_back({Action::Kind::kStop, trials[i].index, {}, 0, "stopped early: " + v.reason, false});
      running[i] = false;
      --n_running;
    }
  }

  // New trials, suggested from everything seen so far.
  History h;
  for (size_t i = 0; i < trials.size(); ++i) {
    const TrialView& t = trials[i];
    if (running[i]) {
      h.pending.push_back(t.config);
    } else if (!t.curve.empty()) {
      h.done.push_back({t.config, Loss(t.curve.back().second), t.curve.back().first});
    }
  }
  bool exhausted = false;
  int next = static_cast<int>(trials.size());
  while (n_running < c_.max_parallel && next < c_.max_trials) {
    h.suggested = next;
    // The randomness of trial n depends on the seed and n only: a restart suggests the same.
    Rng rng(c_.seed * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(next));
    Result<Config> config = sampler_->Suggest(h, rng);
    if (!config.ok()) {
      exhausted = true;
      break;
    }
    const int bracket = stopper_ ? stopper_->BracketOf(next) : 0;
    actions.push_back({Action::Kind::kStart, next, *config, bracket, "", false});
    h.pending.push_back(*config);
    ++n_running;
    ++next;
  }
  if (n_running == 0 && (next >= c_.max_trials || exhausted)) {
    std::string why = exhausted ? "every point of the grid was tried" : "all " + std::to_string(next) + " trials ended";
    if (std::optional<int> best = Best(trials)) {
      why += "; best trial " + std::to_string(*best) + ": " + c_.metric + " " + ShortNumber(trials[*best].curve.back().second);
    }
    actions.push_back({Action::Kind::kFinish, -1, {}, 0, why, false});
  }
  return actions;
}

}  // namespace drover::hpo

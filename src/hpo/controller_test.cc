#include "hpo/controller.h"

#include <gtest/gtest.h>

namespace drover::hpo {
namespace {

ControllerConfig Config3(std::string sampler = "tpe", std::string stopping = "") {
  Param lr;
  lr.name = "lr";
  lr.type = ParamType::kLog;
  lr.min = 1e-3;
  lr.max = 0.5;
  Param bs;
  bs.name = "bs";
  bs.type = ParamType::kOrdinal;
  bs.values = {"32", "64"};
  ControllerConfig c;
  c.space = *SearchSpace::Make({lr, bs});
  c.sampler = std::move(sampler);
  c.early_stopping = std::move(stopping);
  c.stopping = {1, 9, 3};
  c.metric = "val_acc";
  c.max_trials = 4;
  c.max_parallel = 2;
  return c;
}

std::unique_ptr<Controller> Make(ControllerConfig c) {
  auto made = Controller::Make(std::move(c));
  EXPECT_TRUE(made.ok()) << made.status().ToString();
  return std::move(made).value();
}

std::vector<Action> Of(const std::vector<Action>& all, Action::Kind kind) {
  std::vector<Action> out;
  for (const Action& a : all) {
    if (a.kind == kind) out.push_back(a);
  }
  return out;
}

// Applies kStart actions as the server would: a running trial each.
void Apply(const std::vector<Action>& actions, std::vector<TrialView>* trials) {
  for (const Action& a : actions) {
    if (a.kind == Action::Kind::kStart) trials->push_back({a.trial, a.config, a.bracket, TrialState::kRunning, {}});
    if (a.kind == Action::Kind::kStop) (*trials)[a.trial].state = TrialState::kStopped;
  }
}

TEST(ControllerTest, RunsMaxParallelTrialsUntilMaxTrialsThenFinishesWithTheBest) {
  auto c = Make(Config3());
  std::vector<TrialView> t;
  auto first = c->Advance(t, 0);
  ASSERT_EQ(Of(first, Action::Kind::kStart).size(), 2u);  // max_parallel
  EXPECT_EQ(first[0].trial, 0);
  EXPECT_EQ(first[1].trial, 1);
  Apply(first, &t);
  EXPECT_TRUE(c->Advance(t, 1).empty());  // both running: nothing to do
  t[0].curve = {{1, 0.80}};
  t[0].state = TrialState::kSucceeded;
  auto second = c->Advance(t, 2);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].trial, 2);
  Apply(second, &t);
  t[1].curve = {{1, 0.90}};
  t[1].state = TrialState::kSucceeded;
  Apply(c->Advance(t, 3), &t);
  ASSERT_EQ(t.size(), 4u);
  EXPECT_TRUE(Of(c->Advance(t, 3), Action::Kind::kStart).empty());  // max_trials reached
  t[2].curve = {{1, 0.5}};
  t[2].state = TrialState::kSucceeded;
  t[3].state = TrialState::kFailed;
  auto last = c->Advance(t, 4);
  ASSERT_EQ(last.size(), 1u);
  EXPECT_EQ(last[0].kind, Action::Kind::kFinish);
  EXPECT_FALSE(last[0].failed);
  EXPECT_EQ(last[0].reason, "all 4 trials ended; best trial 1: val_acc 0.9");
  EXPECT_EQ(c->Best(t), 1);
}

// After a restart the controller, rebuilt from the stored trials, suggests
// what it would have suggested; another seed is the control.
TEST(ControllerTest, SuggestionsDependOnTheStoredTrialsAndTheSeedOnly) {
  std::vector<TrialView> t;
  for (int i = 0; i < 12; ++i) {
    t.push_back({i, {0.001 * (i + 1), static_cast<double>(i % 2)}, 0, TrialState::kSucceeded, {{1, 0.1 * (i % 7)}}});
  }
  ControllerConfig cfg = Config3();
  cfg.max_trials = 20;
  auto a = Make(cfg)->Advance(t, 0);
  auto b = Make(cfg)->Advance(t, 0);
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].config, b[0].config);
  EXPECT_EQ(a[1].config, b[1].config);
  cfg.seed = 99;
  auto other = Make(cfg)->Advance(t, 0);
  EXPECT_NE(other[0].config, a[0].config);
}

TEST(ControllerTest, AshaStopsARunningTrialThatFallsBehindAtARung) {
  auto c = Make(Config3("random", "asha"));
  std::vector<TrialView> t = {{0, {0.01, 0}, 0, TrialState::kRunning, {{1, 0.9}}},
                              {1, {0.02, 1}, 0, TrialState::kRunning, {{1, 0.5}}}};
  auto actions = c->Advance(t, 5);
  // Maximising: losses -0.9 and -0.5; at rung 0 the cutoff is -0.9 + 0.4/3 = -0.767; trial 1 stops.
  auto stops = Of(actions, Action::Kind::kStop);
  ASSERT_EQ(stops.size(), 1u);
  EXPECT_EQ(stops[0].trial, 1);
  EXPECT_NE(stops[0].reason.find("stopped early: rung 0"), std::string::npos) << stops[0].reason;
  // Its slot goes to a new trial at once.
  EXPECT_EQ(Of(actions, Action::Kind::kStart).size(), 1u);
}

TEST(ControllerTest, TooManyFailedTrialsFailTheExperimentAndStopTheRest) {
  ControllerConfig cfg = Config3();
  cfg.max_trials = 10;
  cfg.max_failed = 2;
  auto c = Make(cfg);
  std::vector<TrialView> t = {{0, {0.01, 0}, 0, TrialState::kFailed, {}},
                              {1, {0.02, 1}, 0, TrialState::kRunning, {}},
                              {2, {0.03, 1}, 0, TrialState::kFailed, {}}};
  auto actions = c->Advance(t, 5);
  ASSERT_EQ(actions.size(), 2u);
  EXPECT_EQ(actions[0].kind, Action::Kind::kStop);
  EXPECT_EQ(actions[0].trial, 1);
  EXPECT_EQ(actions[1].kind, Action::Kind::kFinish);
  EXPECT_TRUE(actions[1].failed);
  EXPECT_EQ(actions[1].reason, "2 trials failed (max_failed_trials 2)");
  t[2].state = TrialState::kSucceeded;  // the control: one failure is within the budget
  EXPECT_TRUE(Of(c->Advance(t, 5), Action::Kind::kFinish).empty());
}

TEST(ControllerTest, MaxTimeStopsRunningTrialsAndFinishes) {
  ControllerConfig cfg = Config3();
  cfg.max_time_s = 60;
  auto c = Make(cfg);
  std::vector<TrialView> t = {{0, {0.01, 0}, 0, TrialState::kRunning, {{1, 0.5}}}};
  EXPECT_TRUE(Of(c->Advance(t, 59), Action::Kind::kFinish).empty());
  auto actions = c->Advance(t, 60);
  ASSERT_EQ(actions.size(), 2u);
  EXPECT_EQ(actions[0].kind, Action::Kind::kStop);
  EXPECT_EQ(actions[1].reason, "reached max_time (60 s)");
}

TEST(ControllerTest, AWalkedGridFinishesBeforeMaxTrials) {
  ControllerConfig cfg = Config3("grid");
  Param bs = cfg.space.params()[1];
  cfg.space = *SearchSpace::Make({bs});
  cfg.max_trials = 10;
  auto c = Make(cfg);
  std::vector<TrialView> t;
  for (int round = 0; round < 5; ++round) {
    Apply(c->Advance(t, 0), &t);
    for (TrialView& v : t) {
      if (v.state == TrialState::kRunning) {
        v.state = TrialState::kSucceeded;
        v.curve = {{1, 0.5}};
      }
    }
  }
  ASSERT_EQ(t.size(), 2u);  // the grid has two points
  auto last = c->Advance(t, 0);
  ASSERT_EQ(last.size(), 1u);
  EXPECT_EQ(last[0].kind, Action::Kind::kFinish);
  EXPECT_NE(last[0].reason.find("every point of the grid was tried"), std::string::npos);
}

}  // namespace
}  // namespace drover::hpo

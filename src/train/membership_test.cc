#include "train/membership.h"
#include "train/scaling.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

namespace drover::train {
namespace {

using Kind = MembershipDecision::Kind;

// A membership at generation `g` of slots with their readiness.
Membership At(int64_t g, std::vector<std::pair<int, bool>> slots, api::JobState state = api::JobState::kRunning) {
  Membership m;
  m.generation = g;
  m.job_state = state;
  for (auto [slot, ready] : slots) m.members.push_back({slot, g, "h", "", api::WorkerState::kRunning, ready});
  return m;
}

struct Case {
  const char* name;
  Membership m;
  int slot;
  int64_t known;
  bool survivor;
  Kind kind;
  int rank;            // kForm
  int64_t prefix;      // kForm
  size_t group_size;   // kForm
  bool ask_regroup;    // kForm
};

TEST(MembershipTest, DecisionsAsATable) {
  const std::vector<Case> cases = {
      {"job ended elsewhere", At(5, {{0, true}}, api::JobState::kFailed), 0, 4, false, Kind::kEnded, -1, 0, 0, false},
      {"not a member: the job shrank", At(5, {{0, true}, {1, true}}), 2, 4, false, Kind::kLeave, -1, 0, 0, false},
      {"poll timed out: same generation", At(4, {{0, true}, {1, true}}), 1, 4, false, Kind::kWait, -1, 0, 0, false},
      {"planned change, all ready", At(5, {{0, true}, {3, true}, {7, true}}), 3, 4, false, Kind::kForm, 1, 11, 3,
       false},
      {"newcomer still starting: keep training", At(5, {{0, true}, {7, false}}), 0, 4, false, Kind::kWait, -1, 0, 0,
       false},
      {"survivor, newcomer starting: ready subset", At(6, {{1, true}, {2, true}, {9, false}}), 1, 5, true, Kind::kForm,
       0, 12, 2, true},
      {"survivor at rank 1 of the subset asks nothing", At(6, {{1, true}, {2, true}, {9, false}}), 2, 5, true,
       Kind::kForm, 1, 12, 2, false},
      {"survivor, everyone ready: full group", At(6, {{1, true}, {2, true}}), 2, 5, true, Kind::kForm, 1, 13, 2, false},
      {"a newcomer joins a formed job", At(7, {{0, true}, {4, true}}), 4, 0, false, Kind::kForm, 1, 15, 2, false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    MembershipDecision d = DecideMembership(c.m, c.slot, c.known, c.survivor);
    EXPECT_EQ(d.kind, c.kind);
    if (c.kind != Kind::kForm) continue;
    EXPECT_EQ(d.rank, c.rank);
    EXPECT_EQ(d.prefix, c.prefix);
    EXPECT_EQ(d.group.members.size(), c.group_size);
    EXPECT_EQ(d.subset, c.group_size < c.m.members.size());
    EXPECT_EQ(d.ask_regroup, c.ask_regroup);
  }
}

// The two prefixes of one generation never coincide, nor with a neighbour's.
TEST(MembershipTest, ReadySubsetAndFullGroupRendezvousApart) {
  std::vector<int64_t> seen;
  for (int64_t g = 1; g <= 3; ++g) {
    Membership full = At(g, {{0, true}, {1, true}}), partial = At(g, {{0, true}, {1, false}});
    seen.push_back(DecideMembership(full, 0, g - 1, true).prefix);
    seen.push_back(DecideMembership(partial, 0, g - 1, true).prefix);
  }
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(std::adjacent_find(seen.begin(), seen.end()), seen.end());
}

TEST(ScalingTest, LearningRateFollowsTheWorldAsAsked) {
  EXPECT_DOUBLE_EQ(ScaledLearningRate(0.05, LrScaling::kNone, 4), 0.05);
  EXPECT_DOUBLE_EQ(ScaledLearningRate(0.05, LrScaling::kLinear, 4), 0.2);
  EXPECT_DOUBLE_EQ(ScaledLearningRate(0.05, LrScaling::kLinear, 1), 0.05);
  EXPECT_DOUBLE_EQ(ScaledLearningRate(0.05, LrScaling::kSqrt, 4), 0.1);
  EXPECT_DOUBLE_EQ(ScaledLearningRate(0.05, LrScaling::kSqrt, 2), 0.05 * std::sqrt(2.0));
  EXPECT_EQ(ParseLrScaling("sqrt").value(), LrScaling::kSqrt);
  EXPECT_EQ(ParseLrScaling("cubic").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseBatchMode("per-worker").value(), BatchMode::kConstantPerWorker);
  EXPECT_FALSE(ParseBatchMode("global ").ok());
}

}  // namespace
}  // namespace drover::train

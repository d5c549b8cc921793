#include "sched/tiresias_policy.h"

#include <gtest/gtest.h>

#include "sched/test_util.h"

namespace drover::sched {
namespace {

using namespace testing;  // NOLINT: test builders

TEST(TiresiasPolicyTest, TakesGpusFromTheHostWithMostFree) {
  ClusterState s = Cluster(3, 4);
  AddJob(s, 1, "/", 3, 3).placement = {{1, 3}};
  AddJob(s, 2, "/", 6, 6, 1);
  TiresiasPolicy p;
  Decisions d = p.Decide(s, 0);
  ASSERT_NE(Change(d, 2), nullptr);
  // h0 and h2 both have 4 free: h0 first (lower index), then 2 more from h2.
  EXPECT_EQ(Change(d, 2)->placement, (Placement{{0, 4}, {2, 2}}));
}

TEST(TiresiasPolicyTest, DemotedJobYieldsToNewcomers) {
  ClusterState s = Cluster(1, 4);
  AddJob(s, 1, "/", 4, 4);
  TiresiasPolicy p(/*queue_threshold_gpu_seconds=*/400);
  Apply(s, p.Decide(s, 0));
  ASSERT_EQ(Workers(s, 1), 4);
  Apply(s, p.Decide(s, 60));   // 60 s x 4 GPUs = 240 GPU-s: still queue 0
  AddJob(s, 2, "/", 4, 4, 100);
  Decisions d = p.Decide(s, 120);  // 480 GPU-s: job 1 demoted, job 2 runs
  ASSERT_NE(Change(d, 1), nullptr);
  EXPECT_EQ(Change(d, 1)->action, Action::kPreempt);
  ASSERT_NE(Change(d, 2), nullptr);
  EXPECT_EQ(Change(d, 2)->action, Action::kStart);
}

TEST(TiresiasPolicyTest, SmallerJobsBackfillPastABlockedOne) {
  ClusterState s = Cluster(1, 4);
  AddJob(s, 1, "/", 2, 2).placement = {{0, 2}};
  AddJob(s, 2, "/", 4, 4, 1);
  AddJob(s, 3, "/", 2, 2, 2);
  TiresiasPolicy p;
  Decisions d = p.Decide(s, 0);
  EXPECT_EQ(Change(d, 2), nullptr);
  ASSERT_NE(Change(d, 3), nullptr);
}

}  // namespace
}  // namespace drover::sched

namespace drover::sched {
namespace {

using namespace testing;  // NOLINT: test builders

TEST(TiresiasPolicyTest, AJobWhoseWorkersDoNotFitWaitsInsteadOfStartingPartly) {
  ClusterState s = Cluster(2, 4);
  AddJob(s, 1, "/", 1, 1).per_worker.gpus = 3;
  FindJob(s, 1)->placement = {{0, 1}};
  AddJob(s, 2, "/", 1, 1, 1).per_worker.gpus = 3;
  FindJob(s, 2)->placement = {{1, 1}};
  AddJob(s, 3, "/", 1, 1, 2).per_worker.gpus = 2;  // 2 GPUs free, but 1 + 1
  TiresiasPolicy p;
  Decisions d = p.Decide(s, 0);
  EXPECT_EQ(Change(d, 3), nullptr);
  EXPECT_NE(Reason(d, 3).find("split into pieces"), std::string::npos) << Reason(d, 3);
}

}  // namespace
}  // namespace drover::sched

#include "sched/elastic_policy.h"

#include <gtest/gtest.h>

#include "sched/test_util.h"

namespace drover::sched {
namespace {

using namespace testing;  // NOLINT: test builders

ElasticPolicy Drover() { return ElasticPolicy("drover", {}); }

TEST(ElasticPolicyTest, IbmDemoTwoElasticJobsSettleAtTwoEach) {
  ClusterState s = Cluster(1, 4);
  AddConsumer(s, "/", "a", {});
  AddConsumer(s, "/", "b", {});
  ElasticPolicy p = Drover();
  AddJob(s, 1, "/a", 1, 4);
  Apply(s, p.Decide(s, 0));
  ASSERT_EQ(Workers(s, 1), 4);  // alone, job 1 takes all 4 GPUs

  AddJob(s, 2, "/b", 1, 4, 60);
  Decisions d = p.Decide(s, 60);
  ASSERT_NE(Change(d, 1), nullptr);
  EXPECT_EQ(Change(d, 1)->action, Action::kShrink);  // shrunk, not killed
  Apply(s, d);
  EXPECT_EQ(Workers(s, 1), 2);
  EXPECT_EQ(Workers(s, 2), 2);
  // A second cycle changes nothing: the split is stable.
  EXPECT_TRUE(p.Decide(s, 120).changes.empty());

  s.jobs.erase(s.jobs.begin() + 1);  // job 2 ends
  d = p.Decide(s, 180);
  ASSERT_NE(Change(d, 1), nullptr);
  EXPECT_EQ(Change(d, 1)->action, Action::kGrow);
  Apply(s, d);
  EXPECT_EQ(Workers(s, 1), 4);
}

TEST(ElasticPolicyTest, RigidJobStartsWhollyOrNotAtAll) {
  ClusterState s = Cluster(1, 4);
  AddConsumer(s, "/", "a", {});
  AddJob(s, 1, "/a", 2, 2);
  AddJob(s, 2, "/a", 3, 3, 1);
  ElasticPolicy p = Drover();
  Decisions d = p.Decide(s, 0);
  Apply(s, d);
  EXPECT_EQ(Workers(s, 1), 2);
  EXPECT_EQ(Workers(s, 2), 0);  // 3 workers do not fit in the 2 left
  // The reason says what is free (a new user was told "all 4 GPUs are in use" with 2 idle).
  EXPECT_EQ(Reason(d, 2), "waiting for 3 GPUs to free up: 2 of 4 GPUs are free");
  ASSERT_EQ(d.pending.size(), 1u);
  EXPECT_EQ(d.pending[0].kind, PendingKind::kCapacity);
}

TEST(ElasticPolicyTest, ElasticJobStartsWithWhatFitsAboveMin) {
  ClusterState s = Cluster(1, 4);
  AddConsumer(s, "/", "a", {});
  AddJob(s, 1, "/a", 1, 1).placement = {{0, 1}};
  AddJob(s, 2, "/a", 2, 8, 1);
  ElasticPolicy p = Drover();
  Apply(s, p.Decide(s, 0));
  EXPECT_EQ(Workers(s, 2), 3);
}

TEST(ElasticPolicyTest, HigherPriorityPreemptsInsideItsConsumer) {
  ClusterState s = Cluster(1, 4);
  AddConsumer(s, "/", "a", {});
  AddJob(s, 1, "/a", 4, 4).placement = {{0, 4}};
  AddJob(s, 2, "/a", 4, 4, 10).priority = 5;
  ElasticPolicy p = Drover();
  Decisions d = p.Decide(s, 10);
  ASSERT_NE(Change(d, 1), nullptr);
  EXPECT_EQ(Change(d, 1)->action, Action::kPreempt);
  ASSERT_NE(Change(d, 2), nullptr);
  EXPECT_EQ(Change(d, 2)->action, Action::kStart);
}

// Consumer a borrowed the whole cluster with rigid jobs; b (owning half) arrives.
ClusterState Borrowed() {
  ClusterState s = Cluster(2, 4);
  AddConsumer(s, "/", "a", {.owned = 4, .reclaim_grace = 30});
  AddConsumer(s, "/", "b", {.owned = 4, .reclaim_grace = 30});
  AddJob(s, 1, "/a", 4, 4).placement = {{0, 4}};
  AddJob(s, 2, "/a", 4, 4, 1).placement = {{1, 4}};
  AddJob(s, 3, "/b", 4, 4, 100);
  return s;
}

TEST(ElasticPolicyTest, ReclaimWaitsForTheGracePeriod) {
  ClusterState s = Borrowed();
  ElasticPolicy p = Drover();
  Decisions d = p.Decide(s, 100);
  EXPECT_TRUE(d.changes.empty());
  EXPECT_NE(Reason(d, 3).find("grace ends in 30s"), std::string::npos) << Reason(d, 3);
  d = p.Decide(s, 120);
  EXPECT_TRUE(d.changes.empty());
  EXPECT_NE(Reason(d, 3).find("grace ends in 10s"), std::string::npos) << Reason(d, 3);
  EXPECT_EQ(Kind(d, 3), "grace");

  d = p.Decide(s, 130);  // grace over: a's most recent job goes back to the queue
  ASSERT_NE(Change(d, 2), nullptr);
  EXPECT_EQ(Change(d, 2)->action, Action::kPreempt);
  EXPECT_EQ(Change(d, 1), nullptr);
  ASSERT_NE(Change(d, 3), nullptr);
  EXPECT_EQ(Change(d, 3)->placement, (Placement{{1, 4}}));
}

TEST(ElasticPolicyTest, ReclaimShrinksElasticWorkAtOnce) {
  ClusterState s = Cluster(2, 4);
  AddConsumer(s, "/", "a", {.owned = 4});
  AddConsumer(s, "/", "b", {.owned = 4});
  AddJob(s, 1, "/a", 1, 8).placement = {{0, 4}, {1, 4}};
  AddJob(s, 2, "/b", 2, 2, 100);
  ElasticPolicy p = Drover();
  Decisions d = p.Decide(s, 100);  // no grace needed: shrinking loses nothing
  ASSERT_NE(Change(d, 1), nullptr);
  EXPECT_EQ(Change(d, 1)->action, Action::kShrink);
  Apply(s, d);
  EXPECT_EQ(Workers(s, 1), 6);
  EXPECT_EQ(Workers(s, 2), 2);
}

TEST(ElasticPolicyTest, ConsumerWithinItsOwnedIsNeverPreemptedForAnother) {
  ClusterState s = Cluster(2, 4);
  AddConsumer(s, "/", "a", {.owned = 4, .reclaim_grace = 0});
  AddConsumer(s, "/", "b", {.owned = 4, .reclaim_grace = 0});
  AddJob(s, 1, "/a", 4, 4).placement = {{0, 4}};
  AddJob(s, 2, "/b", 4, 4).placement = {{1, 4}};
  AddJob(s, 3, "/b", 4, 4, 10).priority = 100;
  ElasticPolicy p = Drover();
  for (TimePoint t : {10.0, 100.0, 1000.0}) {
    Decisions d = p.Decide(s, t);
    EXPECT_EQ(Change(d, 1), nullptr) << "at " << t;
  }
}

TEST(ElasticPolicyTest, SpareGpusGoWhereTheyAddMost) {
  ClusterState s = Cluster(1, 8);
  AddConsumer(s, "/", "a", {});
  JobState& flat = AddJob(s, 1, "/a", 1, 8);
  flat.placement = {{0, 1}};
  flat.speedup = {0, 1, 1.05, 1.08, 1.1, 1.1, 1.1, 1.1, 1.1};
  JobState& linear = AddJob(s, 2, "/a", 1, 8, 1);
  linear.placement = {{0, 1}};
  linear.speedup = {0, 1, 2, 3, 4, 5, 6, 7, 8};
  ElasticPolicy p = Drover();
  Apply(s, p.Decide(s, 0));
  EXPECT_EQ(Workers(s, 1), 1);
  EXPECT_EQ(Workers(s, 2), 7);
}

// A profile that dips at the worker crossing onto a second host (3 on one,
// then the network) but gains past it: growth looks at the best average
// gain of the next workers, not only the next one, so the spare GPUs go past
// the dip rather than to a job that gains a little per worker.
TEST(ElasticPolicyTest, GrowthLooksPastADipInTheProfile) {
  auto run = [](std::vector<double> dipping) {
    ClusterState s = Cluster(2, 4);
    AddConsumer(s, "/", "a", {});
    JobState& big = AddJob(s, 1, "/a", 1, 8);
    big.placement = {{0, 4}};
    big.speedup = std::move(dipping);
    JobState& modest = AddJob(s, 2, "/a", 1, 4, 1);
    modest.placement = {{1, 1}};
    modest.speedup = {0, 1, 1.05, 1.08, 1.1};
    ElasticPolicy p = Drover();
    Apply(s, p.Decide(s, 0));
    return std::pair{Workers(s, 1), Workers(s, 2)};
  };
  // Crossing hosts at 5 costs, then 6..8 scale well: 8 workers beat 4 by far.
  EXPECT_EQ(run({0, 1, 1.9, 2.7, 3.4, 3.3, 4.6, 5.9, 7.2}), (std::pair{7, 1}));
  // The control: the same job with no gain past 4 leaves the spare GPUs to the other.
  EXPECT_EQ(run({0, 1, 1.9, 2.7, 3.4, 3.3, 3.3, 3.3, 3.3}), (std::pair{4, 4}));
}

// A job that has run a minute on 4 GPUs would, by its profile, run 24%
// faster on 8: over the minute it is likely still to run that saves about
// 11 s, less than the 30 s a resize stops it for, so it keeps 4. The
// controls: the same job after an hour grows, and so does a job whose
// resizes cost nothing known.
TEST(ElasticPolicyTest, AGrowThatWouldNotWinBackItsPauseIsHeld) {
  const std::vector<double> scales = {0, 1, 1.9, 2.7, 3.4, 3.6, 3.8, 4.0, 4.2};
  auto run = [](double ran_s, double pause_s, std::vector<double> speedup) {
    ClusterState s = Cluster(1, 8);
    AddConsumer(s, "/", "a", {});
    JobState& j = AddJob(s, 1, "/a", 1, 8);
    j.placement = {{0, 4}};
    j.speedup = std::move(speedup);
    j.attained_service = 4 * ran_s;
    j.resize_pause = pause_s;
    ElasticPolicy p = Drover();
    Decisions d = p.Decide(s, 0);
    Apply(s, d);
    return Workers(s, 1);
  };
  EXPECT_EQ(run(60, 30, scales), 4);
  EXPECT_EQ(run(3600, 30, scales), 8);
  EXPECT_EQ(run(60, 0, scales), 8);
  // A job its profile says is slower on more workers still takes GPUs nobody
  // else gains from (work-conserving) when a resize is an in-process regroup
  // of 50 ms, however long it ran; not when a resize is a 30 s restart.
  const std::vector<double> slower = {0, 1, 0.5, 0.4, 0.3, 0.3, 0.3, 0.3, 0.3};
  EXPECT_EQ(run(3600, 0.05, slower), 8);
  EXPECT_EQ(run(3600, 30, slower), 4);
}

TEST(ElasticPolicyTest, AGrowIsWeighedAgainstTheWorkTheJobSaysIsLeft) {
  const std::vector<double> scales = {0, 1, 1.9, 2.7, 3.4, 3.6, 3.8, 4.0, 4.2};
  auto run = [&](double remaining_work) {
    ClusterState s = Cluster(1, 8);
    AddConsumer(s, "/", "a", {});
    JobState& j = AddJob(s, 1, "/a", 1, 8);
    j.placement = {{0, 4}};
    j.speedup = scales;
    j.attained_service = 4 * 3600.0;  // by what it has had, an hour or so to go
    j.resize_pause = 30;
    j.remaining_work = remaining_work;
    ElasticPolicy p = Drover();
    Apply(s, p.Decide(s, 0));
    return Workers(s, 1);
  };
  EXPECT_EQ(run(0), 8);        // unknown: as long as it ran
  EXPECT_EQ(run(100), 4);      // 100 s on one worker: 29 s at 4, not worth a 30 s pause
  EXPECT_EQ(run(100000), 8);
}

// Two jobs alike but for the work they have left, by their own estimate or,
// without one, by what they have had.
TEST(ElasticPolicyTest, AJobWithLessWorkLeftGrowsFirst) {
  const std::vector<double> scales = {0, 1, 1.8, 2.5, 3.1, 3.6, 4.0, 4.3, 4.5};
  auto run = [&](double left1, double left2, double had1, double had2, ElasticOptions opt) {
    ClusterState s = Cluster(1, 8);
    AddConsumer(s, "/", "a", {});
    for (int id : {1, 2}) {
      JobState& j = AddJob(s, id, "/a", 1, 8, id);
      j.speedup = scales;
      j.remaining_work = id == 1 ? left1 : left2;
      j.attained_service = id == 1 ? had1 : had2;
    }
    ElasticPolicy p("drover", opt);
    Apply(s, p.Decide(s, 0));
    EXPECT_EQ(Workers(s, 1) + Workers(s, 2), 8);
    return std::pair{Workers(s, 1), Workers(s, 2)};
  };
  auto [short1, long2] = run(1000, 10000, 0, 0, {});
  EXPECT_GT(short1, long2);
  auto [long1, short2] = run(10000, 1000, 0, 0, {});
  EXPECT_LT(long1, short2);
  // Controls: alike, or the weight off, they split evenly.
  EXPECT_EQ(run(1000, 1000, 0, 0, {}), std::pair(4, 4));
  EXPECT_EQ(run(1000, 10000, 0, 0, {.remaining_weight = 0}), std::pair(4, 4));
  // No estimate of their own: what they have had stands in (LAS).
  auto [had_little, had_much] = run(0, 0, 600, 60000, {});
  EXPECT_GT(had_little, had_much);
  EXPECT_EQ(run(0, 0, 600, 600, {}), std::pair(4, 4));
}

// Remaining work is the job's own report: claiming next to nothing left
// pulls no harder than the cap (4x the median job's weight, reached at
// 1/256 of its work left).
TEST(ElasticPolicyTest, AClaimOfNothingLeftPullsNoHarderThanTheCap) {
  const std::vector<double> flat = {0, 1, 1.5, 1.8, 2.0, 2.1, 2.15, 2.2, 2.22};
  auto claim = [&](double left) {
    ClusterState s = Cluster(1, 8);
    AddConsumer(s, "/", "a", {});
    for (int id : {1, 2}) {
      JobState& j = AddJob(s, id, "/a", 1, 8, id);
      j.speedup = flat;
      j.remaining_work = id == 1 ? left : 1e6;
    }
    ElasticPolicy p = Drover();
    Apply(s, p.Decide(s, 0));
    return Workers(s, 1);
  };
  const int at_cap = claim(1e6 / 256);
  EXPECT_EQ(claim(1e-6), at_cap);
  EXPECT_EQ(claim(1), at_cap);
  EXPECT_GT(at_cap, claim(1e6 / 16)) << "the control: below the cap the claim counts";
}

TEST(ElasticPolicyTest, LimitCapsAConsumer) {
  ClusterState s = Cluster(1, 8);
  AddConsumer(s, "/", "a", {.limit = 3});
  AddJob(s, 1, "/a", 1, 8);
  AddJob(s, 2, "/a", 1, 1, 1);
  AddJob(s, 3, "/a", 1, 1, 2);
  AddJob(s, 4, "/a", 1, 1, 3);
  ElasticPolicy p = Drover();
  Decisions d = p.Decide(s, 0);
  Apply(s, d);
  EXPECT_EQ(Workers(s, 1) + Workers(s, 2) + Workers(s, 3) + Workers(s, 4), 3);
  EXPECT_NE(Reason(d, 4).find("at its limit of 3 GPUs"), std::string::npos) << Reason(d, 4);
  EXPECT_EQ(Kind(d, 4), "quota");
}

TEST(ElasticPolicyTest, HostDownMovesElasticWorkersAndRequeuesRigid) {
  ClusterState s = Cluster(2, 4);
  AddConsumer(s, "/", "a", {});
  AddJob(s, 1, "/a", 1, 8).placement = {{0, 2}, {1, 2}};
  AddJob(s, 2, "/a", 2, 2).placement = {{1, 2}};
  s.hosts[1].up = false;
  ElasticPolicy p = Drover();
  Decisions d = p.Decide(s, 0);
  ASSERT_NE(Change(d, 1), nullptr);
  // Its 2 workers on h1 are lost; it regrows on h0, which the rigid job no longer shares.
  EXPECT_EQ(Change(d, 1)->action, Action::kGrow);
  EXPECT_EQ(Change(d, 1)->placement, (Placement{{0, 4}}));
  ASSERT_NE(Change(d, 2), nullptr);
  EXPECT_EQ(Change(d, 2)->action, Action::kPreempt);
  EXPECT_NE(Reason(d, 2).find("host h1 is down"), std::string::npos) << Reason(d, 2);
}

TEST(ElasticPolicyTest, AHostInDoubtKeepsItsWorkersAndGetsNoNewOnes) {
  ClusterState s = Cluster(2, 4);
  AddConsumer(s, "/", "a", {});
  AddJob(s, 1, "/a", 1, 8).placement = {{0, 2}, {1, 2}};
  s.hosts[1].accepts_work = false;  // its agent missed a sync
  ElasticPolicy p = Drover();
  Decisions d = p.Decide(s, 0);
  // It keeps its 2 workers on h1 (nothing is lost) and grows on h0 only.
  ASSERT_NE(Change(d, 1), nullptr);
  EXPECT_EQ(Change(d, 1)->action, Action::kGrow);
  EXPECT_EQ(Change(d, 1)->placement, (Placement{{0, 4}, {1, 2}}));
  // A new job waits rather than land on h1.
  AddJob(s, 2, "/a", 1, 1);
  Apply(s, d);
  Decisions d2 = p.Decide(s, 1);
  EXPECT_EQ(Change(d2, 2), nullptr);
  EXPECT_NE(Reason(d2, 2).find("free GPUs are on hosts in doubt (h1)"), std::string::npos) << Reason(d2, 2);
}

TEST(ElasticPolicyTest, EveryPendingJobHasAReasonAndDecisionsAreDeterministic) {
  ClusterState s = Cluster(3, 4);
  AddConsumer(s, "/", "a", {.owned = 8});
  AddConsumer(s, "/", "b", {.owned = 4});
  for (int i = 0; i < 20; ++i) AddJob(s, 100 + i, i % 3 ? "/a" : "/b", 1 + i % 3, 1 + i % 5, i);
  ElasticPolicy p1 = Drover(), p2 = Drover();
  Decisions d1 = p1.Decide(s, 0), d2 = p2.Decide(s, 0);
  ASSERT_EQ(d1.changes.size(), d2.changes.size());
  for (size_t i = 0; i < d1.changes.size(); ++i) {
    EXPECT_EQ(d1.changes[i].job, d2.changes[i].job);
    EXPECT_EQ(d1.changes[i].placement, d2.changes[i].placement);
  }
  int running = 0;
  for (const Decision& c : d1.changes) running += c.action == Action::kStart;
  EXPECT_EQ(running + d1.pending.size(), 20u);
  for (const PendingReason& r : d1.pending) EXPECT_FALSE(r.reason.empty()) << r.job;
}

TEST(ElasticPolicyTest, ConsumerUsageReportsBorrowedAndLent) {
  ClusterState s = Cluster(1, 8);
  AddConsumer(s, "/", "a", {.owned = 2});
  AddConsumer(s, "/", "b", {.owned = 6});
  AddJob(s, 1, "/a", 1, 8);
  ElasticPolicy p = Drover();
  Decisions d = p.Decide(s, 0);
  int a = s.consumers.Find("/a"), b = s.consumers.Find("/b");
  EXPECT_EQ(d.consumers[a].allocated, 8);
  EXPECT_EQ(d.consumers[a].borrowed, 6);
  EXPECT_EQ(d.consumers[b].lent, 6);
}

}  // namespace
}  // namespace drover::sched

namespace drover::sched {
namespace {

using namespace testing;  // NOLINT: test builders

TEST(ElasticPolicyTest, IdleGpusOfANonLendingConsumerStayItsOwn) {
  ClusterState s = Cluster(1, 8);
  AddConsumer(s, "/", "a", {.owned = 4, .lend = false});
  AddConsumer(s, "/", "b", {});
  AddJob(s, 1, "/a", 1, 1);
  for (int i = 0; i < 8; ++i) AddJob(s, 10 + i, "/b", 1, 1, 1 + i);
  ElasticPolicy p("drover", {});
  Apply(s, p.Decide(s, 0));
  int b = 0;
  for (int i = 0; i < 8; ++i) b += Workers(s, 10 + i);
  // a holds 1 and keeps its other 3 owned GPUs idle; b gets only the 4 a does not own.
  EXPECT_EQ(Workers(s, 1), 1);
  EXPECT_EQ(b, 4);
}

TEST(ElasticPolicyTest, AWorkerNoHostCanHoldIsPendingWithoutPreemptingAnyone) {
  ClusterState s = Cluster(2, 4);
  AddConsumer(s, "/", "a", {});
  AddJob(s, 1, "/a", 1, 1).per_worker.gpus = 4;
  FindJob(s, 1)->placement = {{0, 1}};
  AddJob(s, 2, "/a", 1, 1, 1).per_worker.gpus = 8;
  FindJob(s, 2)->priority = 1;
  ElasticPolicy p("drover", {});
  Decisions d = p.Decide(s, 0);
  EXPECT_EQ(Change(d, 1), nullptr);
  EXPECT_NE(Reason(d, 2).find("no host that is up can hold one worker"), std::string::npos) << Reason(d, 2);
  EXPECT_EQ(Kind(d, 2), "infeasible");
}

TEST(ElasticPolicyTest, OneChangePerJobEvenWhenAHostWentDown) {
  ClusterState s = Cluster(3, 4);
  AddConsumer(s, "/", "a", {});
  AddJob(s, 1, "/a", 1, 12).placement = {{0, 4}, {1, 4}};
  s.hosts[1].up = false;
  ElasticPolicy p("drover", {});
  Decisions d = p.Decide(s, 0);
  int changes = 0;
  for (const Decision& c : d.changes) changes += c.job == 1;
  EXPECT_EQ(changes, 1);
  ASSERT_NE(Change(d, 1), nullptr);
  EXPECT_EQ(Change(d, 1)->action, Action::kGrow);  // lost h1's 4, regrew on h2
  EXPECT_EQ(Change(d, 1)->placement, (Placement{{0, 4}, {2, 4}}));
}

}  // namespace
}  // namespace drover::sched

#include "sched/host_pool.h"

#include <gtest/gtest.h>

#include "sched/test_util.h"

namespace drover::sched {
namespace {

using testing::Cluster;

const Resources kGpu{1, 1000, 1024};

TEST(HostPoolTest, BestFitLeavesLargeHolesWhole) {
  ClusterState s = Cluster(3, 4);
  HostPool pool(s.hosts);
  pool.Take(0, {1, 0, 0});  // h0: 3 free
  pool.Take(1, {3, 0, 0});  // h1: 1 free
  // One worker goes to h1 (tightest fit), not the whole h2.
  EXPECT_EQ(pool.Fit(kGpu, 1, 1, {}), (Placement{{1, 1}}));
  // Three workers fit h0 exactly.
  EXPECT_EQ(pool.Fit(kGpu, 3, 3, {}), (Placement{{0, 3}}));
}

TEST(HostPoolTest, SpansFewestHosts) {
  ClusterState s = Cluster(4, 4);
  HostPool pool(s.hosts);
  pool.Take(0, {3, 0, 0});
  pool.Take(1, {2, 0, 0});
  // 6 workers: a whole host (h2), then the best fit for 2 (h1).
  Placement p = pool.Fit(kGpu, 6, 6, {});
  EXPECT_EQ(p, (Placement{{2, 4}, {1, 2}}));
}

TEST(HostPoolTest, GrowthStaysOnHostsTheJobUses) {
  ClusterState s = Cluster(2, 4);
  HostPool pool(s.hosts);
  pool.Take(1, {2, 0, 0});  // the job's two workers on h1
  Placement p = pool.Fit(kGpu, 2, 0, {{1, 2}});
  EXPECT_EQ(p, (Placement{{1, 2}}));
}

TEST(HostPoolTest, EveryDimensionMustFit) {
  ClusterState s = Cluster(2, 4);
  HostPool pool(s.hosts);
  pool.Take(0, {0, 63000, 0});  // h0 has GPUs but only 1 CPU left
  Resources big{1, 8000, 1024};
  EXPECT_EQ(pool.Fit(big, 1, 1, {}), (Placement{{1, 1}}));
}

TEST(HostPoolTest, AllOrNothingTakesNothingOnFailure) {
  ClusterState s = Cluster(2, 4);
  HostPool pool(s.hosts);
  EXPECT_TRUE(pool.Fit(kGpu, 9, 9, {}).empty());
  EXPECT_EQ(pool.free_gpus(), 8);
}

TEST(HostPoolTest, DownHostsOfferNothing) {
  ClusterState s = Cluster(2, 4);
  s.hosts[0].up = false;
  HostPool pool(s.hosts);
  EXPECT_EQ(pool.total_gpus(), 4);
  EXPECT_EQ(pool.Fit(kGpu, 2, 2, {}), (Placement{{1, 2}}));
}

TEST(HostPoolTest, AHostThatTakesNoWorkKeepsItsWorkersButOffersNoRoom) {
  ClusterState s = Cluster(2, 4);
  s.hosts[1].accepts_work = false;
  HostPool pool(s.hosts);
  EXPECT_EQ(pool.total_gpus(), 8);
  EXPECT_EQ(pool.free_gpus(), 4);
  pool.TakePlacement({{1, 1}}, kGpu);  // a worker already there
  EXPECT_EQ(pool.free(1).gpus, 3);
  EXPECT_EQ(pool.free_gpus(), 4);
  // Growth next to that worker goes to the open host; once it is full, nothing more fits.
  EXPECT_EQ(pool.Fit(kGpu, 2, 0, {{1, 1}}), (Placement{{0, 2}}));
  EXPECT_EQ(pool.Fit(kGpu, 3, 0, {{1, 1}}), (Placement{{0, 2}}));
  EXPECT_TRUE(pool.Fit(kGpu, 1, 1, {}).empty());
  pool.GivePlacement({{1, 1}}, kGpu);
  EXPECT_EQ(pool.free(1).gpus, 4);
  EXPECT_TRUE(pool.Fit(kGpu, 1, 1, {}).empty());  // its room, given back, still offers nothing
}

}  // namespace
}  // namespace drover::sched

// Golden values come from the reference simulator's Job class (petuum/adaptdl osdi21-artifact,
// simulator/simulator.py) stepped 60 s at a time on the same traces, reallocating at the same
// times as here.
#include "sim/sim_job.h"
#include "sim/bundled_apps_test_util.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>

namespace drover::sim {
namespace {

namespace fs = std::filesystem;

using simtest::TracesDir;

class SimJobTest : public simtest::BundledAppsTest {
 protected:
  static const Application* App(const std::string& name) { return &BundledAppsTest::App(name); }
};

struct Scenario {
  const char* app;
  int replicas, batch;
  std::vector<std::pair<int, std::vector<int>>> reallocations;  // (time, placement)
  int snapshot_time;
  int snapshot_epoch;
  double snapshot_progress, snapshot_service;
  double completion_time, attained_service;
  int num_restarts, final_epoch;
};

TEST_F(SimJobTest, RigidJobsMatchReferenceJob) {
  const Scenario scenarios[] = {
      {"cifar10", 4, 512, {{0, {4}}}, 600, 45, 17753.81948027923, 2400, 1200, 4800, 0, 100},
      {"imagenet",
       8,
       1600,
       {{0, {4, 4}}},
       3600,
       2,
       16828.630303543083,
       28800,
       79870,
       638960,
       0,
       90},
      {"yolov3", 1, 64, {{0, {1}}}, 1200, 0, 471.00020638640115, 1200, 41423, 41423, 0, 50},
      {"bert",
       20,
       384,
       {{0, {4, 4, 4, 4, 4}}},
       600,
       0,
       6553.393073928012,
       12000,
       1307,
       26140,
       0,
       2},
      {"cifar10",
       8,
       2048,
       {{0, {4, 4}}, {180, {4, 4, 4, 4, 4, 4}}, {360, {2}}, {480, {}}, {600, {4, 4}}},
       300,
       15,
       5969.4636021172855,
       4320,
       1122,
       10176,
       3,
       100},
      {"deepspeech2",
       10,
       320,
       {{0, {3, 4, 3}}},
       1200,
       20,
       7409.166859434874,
       12000,
       2874,
       28740,
       0,
       80},
  };
  for (const Scenario& s : scenarios) {
    const std::string what = std::string(s.app) + " B=" + std::to_string(s.batch);
    SimJob job = SimJob::Rigid("job", App(s.app), 0, s.replicas, s.batch);
    size_t next = 0;
    job.Reallocate(s.reallocations[next++].second);
    int t = 0;
    bool snapped = false;
    while (!job.completed() && t < 10'000'000) {
      job.Step(60);
      t += 60;
      EXPECT_EQ(job.current_time(), t);
      if (t == s.snapshot_time) {
        snapped = true;
        EXPECT_EQ(job.epoch(), s.snapshot_epoch) << what;
        EXPECT_NEAR(job.progress(), s.snapshot_progress, 1e-9 * s.snapshot_progress) << what;
        EXPECT_EQ(job.attained_service(), s.snapshot_service) << what;
      }
      if (next < s.reallocations.size() && s.reallocations[next].first == t) {
        job.Reallocate(s.reallocations[next++].second);
      }
    }
    EXPECT_TRUE(snapped) << what;
    ASSERT_TRUE(job.completion_time().has_value()) << what;
    EXPECT_EQ(*job.completion_time(), s.completion_time) << what;
    EXPECT_EQ(job.attained_service(), s.attained_service) << what;
    EXPECT_EQ(job.num_restarts(), s.num_restarts) << what;
    EXPECT_EQ(job.epoch(), s.final_epoch) << what;
  }
}

TEST_F(SimJobTest, UnplacedJobOnlyLetsTimePass) {
  SimJob job = SimJob::Rigid("idle", App("cifar10"), 120, 4, 512);
  EXPECT_FALSE(job.num_restarts().has_value());
  job.Step(60);
  job.Step(60);
  EXPECT_EQ(job.current_time(), 120);
  EXPECT_EQ(job.progress(), 0);
  EXPECT_EQ(job.attained_service(), 0);
  job.Reallocate({2, 2});
  EXPECT_EQ(job.num_restarts(), 0);
  EXPECT_EQ(job.num_replicas(), 4);
  EXPECT_EQ(job.batch_size(), 512);
  job.Step(20);  // inside the rescale pause: GPUs held, no progress
  EXPECT_EQ(job.progress(), 0);
  EXPECT_EQ(job.attained_service(), 80);
  EXPECT_EQ(job.rescale_time(), 10);
  job.Step(20);
  EXPECT_GT(job.progress(), 0);
  job.Reallocate({});
  EXPECT_EQ(job.batch_size(), 0);
  const double progress = job.progress();
  job.Step(60);
  EXPECT_EQ(job.progress(), progress);
  EXPECT_EQ(job.current_time(), 220);
}

TEST_F(SimJobTest, ElasticJobRunsAtTheOptimalGeometry) {
  const Application* app = App("cifar10");
  SimJob elastic = SimJob::Elastic("elastic", app, 0);
  SimJob rigid = SimJob::Rigid("rigid", app, 0, 8, 128);
  EXPECT_TRUE(elastic.elastic());
  EXPECT_FALSE(rigid.elastic());
  elastic.Reallocate({4, 4});
  rigid.Reallocate({4, 4});
  const Geometry want = app->OptimalGeometry({4, 4}, 0);
  EXPECT_EQ(elastic.atomic_bsz(), want.atomic_bsz);
  EXPECT_EQ(elastic.accum_steps(), want.accum_steps);
  int t = 0;
  while (!(elastic.completed() && rigid.completed()) && t < 1'000'000) {
    elastic.Step(60);
    rigid.Step(60);
    t += 60;
    if (!elastic.completed()) {
      const Geometry now = app->OptimalGeometry({4, 4}, elastic.epoch());
      EXPECT_EQ(elastic.batch_size(), now.batch_size());
    }
  }
  ASSERT_TRUE(elastic.completed());
  ASSERT_TRUE(rigid.completed());
  EXPECT_LE(*elastic.completion_time(), *rigid.completion_time());
}

TEST_F(SimJobTest, SpeedupProfileIsRelativeToOneGpu) {
  const Application* app = App("imagenet");
  SimJob job = SimJob::Elastic("j", app, 0);
  const std::vector<double> speedup = job.SpeedupProfile(64);
  ASSERT_EQ(speedup.size(), 65u);
  EXPECT_EQ(speedup[0], 0.0);
  EXPECT_DOUBLE_EQ(speedup[1], 1.0);
  const double one = app->OptimalGoodput(app->Normalize({1}), 0);
  const double eight = app->OptimalGoodput(app->Normalize({4, 4}), 0);
  EXPECT_DOUBLE_EQ(speedup[8], eight / one);
  for (int k = 1; k <= 64; ++k) EXPECT_GT(speedup[k], 0.0) << k;
  EXPECT_GT(speedup[16], speedup[1]);
  EXPECT_EQ(job.SpeedupProfile(64), speedup);  // memoised, same answer
  EXPECT_EQ(job.SpeedupProfile(0), std::vector<double>{0.0});
}

}  // namespace
}  // namespace drover::sim

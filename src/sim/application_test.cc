// Golden values come from the reference simulator (petuum/adaptdl osdi21-artifact,
// simulator/applications.py, scipy 1.10, pandas 1.5) run on the same traces.
#include "sim/application.h"
#include "sim/bundled_apps_test_util.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

namespace drover::sim {
namespace {

namespace fs = std::filesystem;

using simtest::TracesDir;

class ApplicationTest : public simtest::BundledAppsTest {};

void ExpectRel(double got, double want, double rel, const std::string& what) {
  EXPECT_NEAR(got, want, rel * std::fabs(want)) << what;
}

TEST_F(ApplicationTest, BundledSettingsMatchReference) {
  struct Case {
    const char* app;
    int init, max, min_local, max_local, epochs;
  };
  const Case cases[] = {
      {"bert", 12, 384, 4, 12, 2},          {"cifar10", 128, 4096, 32, 1024, 100},
      {"ncf", 256, 32768, 32, 32768, 10},   {"imagenet", 200, 12800, 20, 200, 90},
      {"deepspeech2", 20, 640, 10, 80, 80}, {"yolov3", 8, 512, 4, 8, 50},
  };
  for (const Case& c : cases) {
    const Application& app = App(c.app);
    EXPECT_EQ(app.name(), c.app);
    EXPECT_EQ(app.init_batch_size(), c.init) << c.app;
    EXPECT_EQ(app.max_batch_size(), c.max) << c.app;
    EXPECT_EQ(app.min_local_bsz(), c.min_local) << c.app;
    EXPECT_EQ(app.max_local_bsz(), c.max_local) << c.app;
    EXPECT_EQ(app.max_epochs(), c.epochs) << c.app;
    EXPECT_EQ(app.CompletionEpoch(), c.epochs - 1) << c.app;
  }
}

TEST_F(ApplicationTest, ThroughputMatchesReference) {
  struct Case {
    const char* app;
    std::vector<int> placement;
    double bsz, step, sync;
  };
  // In placements.csv (interp1d) and not (Delaunay interpolation over nodes, replicas, bsz).
  const Case cases[] = {
      {"cifar10", {4, 4, 2}, 64, 0.1763445377349853, 0.1178152603149414},
      {"cifar10", {0, 2, 4, 0, 4}, 64, 0.1763445377349853, 0.1178152603149414},
      {"cifar10", {4, 4, 2}, 100, 0.1851207049269425, 0.10361699407477123},
      {"cifar10",
       {4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4},
       128,
       0.28720581585303284,
       0.17824701569062423},
      {"cifar10", {4, 4, 4, 4, 2}, 100, 0.15849439533133253, 0.0737802466944644},
      {"cifar10", std::vector<int>(16, 1), 32, 0.1720085620880126, 0.1304793022155762},
      {"cifar10", {2, 2, 2, 2, 2, 2}, 45, 0.1656944751739502, 0.11595830078125},
      {"imagenet", {4, 4}, 100, 0.6694777867373298, 0.13343512715031114},
      {"imagenet", {4, 4, 4, 4, 4, 4}, 200, 1.0885708332061768, 0.0945994918823242},
      {"imagenet", {3, 3, 3, 3, 3}, 57, 0.48722290992736816, 0.16686487884521478},
      {"imagenet", std::vector<int>(16, 4), 50, 0.6255970183540793, 0.33089601440429683},
      {"yolov3", {1}, 8, 0.3261484205722809, 0.0024901360273361},
      {"yolov3", {4, 4, 4, 4, 4, 4, 4, 4}, 8, 1.5466401427984238, 1.1793409690856935},
      {"yolov3", {2, 2, 2, 2, 2}, 6, 1.141588551302751, 0.7227751158078513},
      {"yolov3", {1, 3, 2, 4}, 5, 1.1201822459697723, 0.7880042381286622},
      {"bert", {4, 4, 4, 4, 4}, 8, 1.7812995091080666, 1.1340179710388183},
      {"ncf", {4, 4, 4, 4, 4, 4, 4}, 512, 0.0333449504640367, 0.02509668087245797},
      {"deepspeech2", {4, 4, 4, 4, 4, 4, 4, 4, 4, 4}, 20, 1.4881194829940796, 0.653803850809733},
      {"deepspeech2", {1, 2, 1, 2, 1, 2, 1}, 33, 1.1529144446055095, 0.18956064528889127},
      // Points on faces that the triangulation cuts differently on either side: the value
      // depends on which simplex scipy's search reaches first.
      {"bert", {4, 4, 4, 4, 4, 4, 2}, 5, 1.8102508187294006, 1.337417304992676},
      {"bert", {4, 4, 4, 4, 4, 4, 2}, 7, 1.7011813148856163, 1.1072338829040527},
      {"bert",
       {2, 1, 3, 2, 1, 2, 3, 1, 1, 1, 2, 4, 4, 3},
       11,
       1.7750549539923668,
       0.9467873153686523},
      {"cifar10", {4, 4, 4, 4, 2}, 443, 0.3661092042922974, 0.010172025798161786},
  };
  for (const Case& c : cases) {
    const std::string what = std::string(c.app) + " bsz " + std::to_string(c.bsz);
    const StepTimes t = App(c.app).Throughput(c.placement, c.bsz);
    ExpectRel(t.step_time, c.step, 1e-6, what + " step");
    ExpectRel(t.sync_time, c.sync, 1e-6, what + " sync");
    // Memoised: a second call answers the same.
    const StepTimes again = App(c.app).Throughput(c.placement, c.bsz);
    EXPECT_EQ(again.step_time, t.step_time);
    auto measured = App(c.app).MeasuredThroughput(c.placement, c.bsz);
    ASSERT_TRUE(measured.ok()) << measured.status().ToString();
    ExpectRel(measured->step_time, c.step, 1e-6, what + " measured");
  }
}

TEST_F(ApplicationTest, PlacementKeyIsTheSmallestRotation) {
  const Application& app = App("cifar10");
  const PlacementKey k = app.Normalize({0, 4, 2, 0, 4});
  EXPECT_EQ(k.id, 244);
  EXPECT_EQ(k.num_nodes, 3);
  EXPECT_EQ(k.num_replicas, 10);
  EXPECT_TRUE(k.in_trace);
  const PlacementKey big = app.Normalize(std::vector<int>(12, 4));
  EXPECT_FALSE(big.in_trace);
  EXPECT_EQ(big.num_replicas, 48);
  // Placements outside the trace share the interpolation of their (nodes, replicas).
  EXPECT_EQ(app.Normalize({4, 4, 4, 4, 2}).memo_id, app.Normalize({2, 4, 4, 4, 4}).memo_id);
  EXPECT_EQ(app.Normalize({4, 4, 4, 4, 2}).memo_id, app.Normalize({3, 3, 4, 4, 4}).memo_id);
  // Counts beyond one digit have no id but still interpolate.
  const PlacementKey wide = app.Normalize({12, 4});
  EXPECT_EQ(wide.id, -1);
  EXPECT_FALSE(wide.in_trace);
  EXPECT_GT(app.Throughput(wide, 64).step_time, 0);
}

TEST_F(ApplicationTest, ConcurrentCallersAgree) {
  const Application& app = App("deepspeech2");
  std::vector<std::vector<double>> results(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&app, &results, t] {
      for (int k = 1; k <= 40; ++k) {
        std::vector<int> placement;
        for (int left = k; left > 0; left -= 4) placement.push_back(std::min(left, 4));
        results[t].push_back(app.Throughput(placement, 10 + k).step_time);
        results[t].push_back(app.OptimalGoodput(app.Normalize(placement), k % 7));
      }
    });
  }
  for (std::thread& th : threads) th.join();
  for (int t = 1; t < 4; ++t) EXPECT_EQ(results[t], results[0]);
}

TEST_F(ApplicationTest, TracePlacementClampsOutsideItsRows) {
  const Application& app = App("cifar10");
  // Placement 4444 is measured up to local_bsz 725, every placement from 32.
  const StepTimes top = app.Throughput({4, 4, 4, 4}, 725);
  const StepTimes above = app.Throughput({4, 4, 4, 4}, 1024);
  EXPECT_EQ(above.step_time, top.step_time);
  EXPECT_EQ(above.sync_time, top.sync_time);
  EXPECT_EQ(app.Throughput({4, 4, 2}, 16).step_time, app.Throughput({4, 4, 2}, 32).step_time);
  auto measured = app.MeasuredThroughput({4, 4, 4, 4}, 1024);
  EXPECT_EQ(measured.status().code(), StatusCode::kNotFound);
  EXPECT_NE(measured.status().message().find("4444"), std::string::npos);
}

TEST_F(ApplicationTest, OutsideTheDataUsesTheNearestHullPoint) {
  const Application& app = App("cifar10");
  const std::vector<int> twelve(12, 4);
  // Every cifar10 measurement starts at local_bsz 32, so the hull's nearest point to
  // (12 nodes, 48 GPUs, 16) is (12, 48, 32). At 12 x 48 the hull ends between local_bsz 400 and
  // 450. The reference gets NaN (and asserts) at 16 and at 450.
  EXPECT_TRUE(app.MeasuredThroughput(twelve, 32).ok());
  EXPECT_TRUE(app.MeasuredThroughput(twelve, 400).ok());
  for (double bsz : {16.0, 450.0}) {
    auto measured = app.MeasuredThroughput(twelve, bsz);
    EXPECT_EQ(measured.status().code(), StatusCode::kNotFound) << bsz;
    EXPECT_NE(measured.status().message().find("convex hull"), std::string::npos);
  }
  const StepTimes below = app.Throughput(twelve, 16);
  const StepTimes edge = app.Throughput(twelve, 32);
  ExpectRel(below.step_time, edge.step_time, 1e-9, "step");
  ExpectRel(below.sync_time, edge.sync_time, 1e-9, "sync");
  const StepTimes above = app.Throughput(twelve, 450);
  EXPECT_GT(above.step_time, 0);
  EXPECT_GT(above.step_time, above.sync_time);
  EXPECT_TRUE(std::isinf(app.Throughput(std::vector<int>{}, 64).step_time));
}

TEST_F(ApplicationTest, ProgressMatchesReference) {
  struct Case {
    const char* app;
    int epoch;
    double progress;
  };
  const Case cases[] = {
      {"cifar10", 0, 0.0},
      {"cifar10", 1, 390.71438596642224},
      {"cifar10", 50, 19531.47641169285},
      {"cifar10", 100, 39062.90816659533},
      {"bert", 1, 7387.0},
      {"bert", 2, 14774.0},
      {"imagenet", 90, 576525.594895604},
      {"yolov3", 7, 14482.374217124989},
  };
  for (const Case& c : cases) {
    ExpectRel(App(c.app).Progress(c.epoch), c.progress, 1e-12, c.app);
  }
}

TEST_F(ApplicationTest, GradStatsMatchReference) {
  struct Case {
    const char* app;
    double batch;
    int epoch;
    double sqr, var;
  };
  const Case cases[] = {
      {"cifar10", 128, 0, 8.947307535897329, 5.066593295150894},
      {"cifar10", 300, 5, 0.3271795079153115, 1.6813174102976123},
      {"cifar10", 4096, 99, 1.901613004125892e-05, 0.0241275320832545},
      {"cifar10", 1000, 42, 0.060652876142323224, 4.752905489697318},
      {"imagenet", 1000, 10, 0.13971547536190662, 5.169978087767365},
      {"yolov3", 100, 3, 1002.5711641792204, 29843.70258394935},
      {"ncf", 32768, 9, 1053.150116702116, 262015801.08646137},
  };
  for (const Case& c : cases) {
    const GradientStats g = App(c.app).GradStats(c.batch, c.epoch);
    ExpectRel(g.grad_sqr, c.sqr, 1e-12, c.app);
    ExpectRel(g.grad_var, c.var, 1e-12, c.app);
  }
  // Beyond the validated sizes: the nearest one.
  const GradientStats top = App("cifar10").GradStats(4096, 3);
  const GradientStats over = App("cifar10").GradStats(9000, 3);
  EXPECT_EQ(over.grad_sqr, top.grad_sqr);
  EXPECT_EQ(over.grad_var, top.grad_var);
}

TEST_F(ApplicationTest, RigidGeometryMatchesReference) {
  struct Case {
    const char* app;
    int replicas, batch, atomic, accum;
  };
  // From the reference Job.update_local_bsz with target_batch_size set.
  const Case cases[] = {
      {"cifar10", 1, 128, 128, 0},   {"cifar10", 1, 256, 128, 1},
      {"cifar10", 3, 1000, 334, 0},  {"cifar10", 16, 4096, 256, 0},
      {"cifar10", 64, 4096, 64, 0},  {"yolov3", 2, 64, 8, 3},
      {"yolov3", 1, 8, 8, 0},        {"yolov3", 1, 16, 8, 1},
      {"yolov3", 3, 512, 7, 21},     {"imagenet", 64, 12800, 200, 0},
      {"imagenet", 7, 1600, 115, 1}, {"ncf", 1, 32768, 16384, 1},
      {"bert", 5, 384, 10, 6},       {"deepspeech2", 12, 640, 53, 0},
      {"cifar10", 48, 4096, 85, 0},
  };
  for (const Case& c : cases) {
    const Geometry g = App(c.app).RigidGeometry(c.replicas, c.batch);
    const std::string what =
        std::string(c.app) + " R=" + std::to_string(c.replicas) + " B=" + std::to_string(c.batch);
    EXPECT_EQ(g.atomic_bsz, c.atomic) << what;
    EXPECT_EQ(g.accum_steps, c.accum) << what;
    EXPECT_EQ(g.num_replicas, c.replicas) << what;
    EXPECT_TRUE(g.feasible) << what;
  }
}

TEST_F(ApplicationTest, GoodputIsGainOverStepTime) {
  const Application& app = App("imagenet");
  const std::vector<int> placement = {4, 4};
  const Geometry g = app.RigidGeometry(8, 1600);
  const StepTimes t = app.Throughput(placement, g.atomic_bsz);
  const GradientStats s = app.GradStats(g.batch_size(), 3);
  const double scale = g.batch_size() / 200.0;
  const double gain = (s.grad_var + s.grad_sqr) / (s.grad_var / scale + s.grad_sqr);
  const double want = gain / (t.step_time + (t.step_time - t.sync_time) * g.accum_steps);
  EXPECT_DOUBLE_EQ(app.Goodput(placement, g, 3), want);
}

TEST_F(ApplicationTest, OptimalGeometryBeatsEveryOtherCandidate) {
  for (const char* name : {"cifar10", "imagenet", "yolov3", "bert", "deepspeech2"}) {
    const Application& app = App(name);
    for (const std::vector<int>& placement :
         {std::vector<int>{1}, std::vector<int>{4, 4}, std::vector<int>{4, 4, 4, 4, 4, 4}}) {
      for (int epoch : {0, app.max_epochs() / 2}) {
        const Geometry best = app.OptimalGeometry(placement, epoch);
        const int replicas = best.num_replicas;
        const std::string what = std::string(name) + " R=" + std::to_string(replicas);
        ASSERT_TRUE(best.feasible) << what;
        EXPECT_GE(best.atomic_bsz, app.min_local_bsz()) << what;
        EXPECT_LE(best.atomic_bsz, app.max_local_bsz()) << what;
        EXPECT_GE(best.batch_size(), app.init_batch_size()) << what;
        EXPECT_LE(best.batch_size(), app.max_batch_size()) << what;
        const double best_goodput = app.Goodput(placement, best, epoch);
        ExpectRel(app.OptimalGoodput(app.Normalize(placement), epoch), best_goodput, 1e-12, what);
        // No validated batch size run rigidly does better.
        for (int batch : app.validated_batch_sizes()) {
          const Geometry rigid = app.RigidGeometry(replicas, batch);
          if (rigid.atomic_bsz < app.min_local_bsz() ||
              rigid.batch_size() < app.init_batch_size() ||
              !app.MeasuredThroughput(placement, rigid.atomic_bsz).ok()) {
            continue;
          }
          EXPECT_LE(app.Goodput(placement, rigid, epoch), best_goodput * (1 + 1e-12))
              << what << " B=" << batch;
        }
      }
    }
  }
}

TEST_F(ApplicationTest, OptimalGeometryReportsInfeasiblePlacements) {
  const Application& app = App("cifar10");
  // 200 GPUs x min_local_bsz 32 exceeds max_batch_size 4096.
  const Geometry g = app.OptimalGeometry(std::vector<int>(50, 4), 0);
  EXPECT_FALSE(g.feasible);
  EXPECT_EQ(g.atomic_bsz, app.min_local_bsz());
  EXPECT_EQ(app.OptimalGoodput(app.Normalize(std::vector<int>(50, 4)), 0), 0.0);
}

std::string MakeTraceDir(const std::string& name, const std::string& placements) {
  const fs::path dir = fs::path(testing::TempDir()) / "drover_sim_traces" / name;
  fs::create_directories(dir);
  std::ofstream(dir / "placements.csv") << placements;
  std::ofstream(dir / "scalability.csv")
      << "num_nodes,num_replicas,local_bsz,step_time,sync_time\n6,6,32,0.1,0.05\n";
  std::ofstream(dir / "validation-32.csv")
      << "progress,iteration,metric,grad_sqr,grad_var\n10,1,0.5,1.0,2.0\n20,2,0.6,1.0,2.0\n";
  return dir.string();
}

TEST(ApplicationLoadTest, MissingDirectoryIsNotFound) {
  auto app = Application::Load("/nonexistent/drover/traces/cifar10");
  EXPECT_EQ(app.status().code(), StatusCode::kNotFound);
  EXPECT_NE(app.status().message().find("/nonexistent/drover/traces/cifar10"), std::string::npos);
  auto bundled = Application::LoadBundled("/nonexistent/drover/traces");
  EXPECT_EQ(bundled.status().code(), StatusCode::kNotFound);
}

TEST(ApplicationLoadTest, MalformedCsvNamesFileAndLine) {
  const std::string dir = MakeTraceDir(
      "bad_number", "placement,local_bsz,step_time,sync_time\n1,32,0.1,0.01\n1,64,abc,0.01\n");
  auto app = Application::Load(dir);
  EXPECT_EQ(app.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(app.status().message().find("placements.csv:3"), std::string::npos)
      << app.status().message();

  const std::string missing =
      MakeTraceDir("missing_column", "placement,local_bsz,step_time\n1,32,0.1\n");
  auto app2 = Application::Load(missing);
  EXPECT_EQ(app2.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(app2.status().message().find("sync_time"), std::string::npos)
      << app2.status().message();
}

TEST(ApplicationLoadTest, TooManyEpochsIsAnError) {
  const std::string dir =
      MakeTraceDir("few_epochs", "placement,local_bsz,step_time,sync_time\n1,32,0.1,0.01\n");
  AppOverrides overrides;
  overrides.max_epochs = 5;
  auto app = Application::Load(dir, overrides);
  EXPECT_EQ(app.status().code(), StatusCode::kInvalidArgument);
  auto ok = Application::Load(dir);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->max_epochs(), 2);
  EXPECT_EQ(ok->name(), "few_epochs");
}

}  // namespace
}  // namespace drover::sim

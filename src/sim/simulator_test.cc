#include "sim/simulator.h"

#include <cstdlib>
#include <fstream>

#include <gtest/gtest.h>

#include "sim/bundled_apps_test_util.h"
#include "sim/philly.h"
#include "sim/pollux_workload.h"

namespace drover::sim {
namespace {

// A job that needs `work` seconds on any placement, with no pause: makes the
// engine's arithmetic easy to check by hand.
class FixedJob final : public ModelJob {
 public:
  explicit FixedJob(double work) : work_(work) {}
  void Reallocate(double, const std::vector<int>& p) override { held_ = !p.empty(); }
  void Step(double now, double seconds) override {
    if (!held_ || done_ >= work_) return;
    double run = std::min(seconds, work_ - done_);
    done_ += run;
    attained_ += run;
    if (done_ >= work_) completion_ = now + run;
  }
  bool finished() const override { return completion_ >= 0; }
  double completion_time() const override { return completion_; }
  double attained_service() const override { return attained_; }
  int restarts() const override { return 0; }

 private:
  double work_;
  bool held_ = false;
  double done_ = 0, attained_ = 0, completion_ = -1;
};

SimJobSpec Fixed(const std::string& name, double submit, double work, int gpus) {
  SimJobSpec s;
  s.name = name;
  s.kind = "fixed";
  s.submit = submit;
  s.workers = {gpus, gpus};
  s.model = std::make_unique<FixedJob>(work);
  return s;
}

// Rounds only, as the reference simulator: decisions at round ends.
TEST(SimulatorTest, JobsStartAtTheFirstRoundAfterSubmission) {
  std::vector<SimJobSpec> jobs;
  jobs.push_back(Fixed("a", 10, 100, 4));  // placed at t=60, runs 60..160
  jobs.push_back(Fixed("b", 20, 30, 4));   // waits for a: placed at t=180, ends 210
  auto policy = sched::MakePolicy("fifo").value();
  SimOptions opt;
  opt.nodes = 1;
  opt.gpus_per_node = 4;
  opt.reaction = 0;
  SimResult r = Simulate(std::move(jobs), ConsumerTree(), *policy, opt);
  ASSERT_EQ(r.jobs.size(), 2u);
  EXPECT_DOUBLE_EQ(r.jobs[0].completion, 160);
  EXPECT_DOUBLE_EQ(r.jobs[1].completion, 210);
  EXPECT_DOUBLE_EQ(r.mean_jct, (150.0 + 190.0) / 2);
  EXPECT_DOUBLE_EQ(r.makespan, 200);
  EXPECT_EQ(r.placement_changes, 2);
}

// On events, as drover's server: a job is placed when it is submitted, and
// a finished job's GPUs go to a waiting one as soon as the end is noticed,
// within `reaction` seconds of it.
TEST(SimulatorTest, OnEventsJobsStartWhenSubmittedAndFreedGpusGoWithinTheReaction) {
  auto run = [](double reaction) {
    std::vector<SimJobSpec> jobs;
    jobs.push_back(Fixed("a", 10, 100, 4));  // placed at t=10, runs 10..110
    jobs.push_back(Fixed("b", 20, 30, 4));   // waits for a
    auto policy = sched::MakePolicy("fifo").value();
    SimOptions opt;
    opt.nodes = 1;
    opt.gpus_per_node = 4;
    opt.reaction = reaction;
    return Simulate(std::move(jobs), ConsumerTree(), *policy, opt);
  };
  SimResult r = run(5);
  ASSERT_EQ(r.jobs.size(), 2u);
  EXPECT_DOUBLE_EQ(r.jobs[0].completion, 110);
  EXPECT_DOUBLE_EQ(r.jobs[1].completion, 140) << "placed at 110, when a ended";
  EXPECT_DOUBLE_EQ(r.mean_jct, (100.0 + 120.0) / 2);
  EXPECT_EQ(r.placement_changes, 2);
  // Noticed within 30 s: steps end at 60 (the round), 90 and 120, so b is
  // placed at 120 (a still ends at 110).
  r = run(30);
  EXPECT_DOUBLE_EQ(r.jobs[0].completion, 110);
  EXPECT_DOUBLE_EQ(r.jobs[1].completion, 150);
}

using simtest::DataDir;

TEST(PhillyTest, PlanOwnsTheClusterInProportionToDemand) {
  std::string path = ::testing::TempDir() + "/philly-test.csv";
  std::ofstream(path) << "timestamp,duration,num_gpus,gpu_time,cluster\n"
                         "2017-10-02 00:00:00,3600,8,28800,aa\n"
                         "2017-10-02 00:01:00,3600,8,28800,aa\n"
                         "2017-10-02 00:02:00,3600,8,28800,aa\n"
                         "2017-10-02 00:03:00,3600,8,28800,bb\n"
                         "2017-10-02 00:04:00,,8,,bb\n"
                         "2017-10-09 00:00:00,3600,8,28800,bb\n";
  int skipped = 0;
  auto rows = LoadPhillyTrace(path, &skipped);
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  EXPECT_EQ(skipped, 1);
  PhillyOptions o;
  o.gpus = 16;
  o.days = 1;
  auto w = BuildPhillyWorkload(*rows, o);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_EQ(w->jobs.size(), 4u);  // the row a week later is outside the window
  EXPECT_EQ(w->plan.node(w->plan.Find("/philly/vc-aa")).plan.owned, 12);
  EXPECT_EQ(w->plan.node(w->plan.Find("/philly/vc-bb")).plan.owned, 4);
}

TEST(PhillyTest, AGivenPlanMustCoverEveryVirtualCluster) {
  std::vector<PhillyRow> rows = {{ParseUtc("2017-10-02").value(), 60, 1, "aa"},
                                 {ParseUtc("2017-10-02").value() + 5, 60, 1, "bb"}};
  ConsumerTree plan;
  plan.Add(0, "vc-aa", {.owned = 8}).value();
  PhillyOptions o;
  o.gpus = 8;
  o.plan = plan;
  auto w = BuildPhillyWorkload(rows, o);
  ASSERT_FALSE(w.ok());
  EXPECT_NE(w.status().message().find("no consumer for virtual cluster(s) bb"), std::string::npos)
      << w.status().message();
  o.plan->Add(0, "bb", {}).value();
  w = BuildPhillyWorkload(rows, o);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_EQ(w->jobs[1].consumer, o.plan->Find("/bb"));
}

// A week of Philly is too long for a unit test; two days on a small cluster
// still exercises reclaim: drover leaves nobody owed past the grace period,
// while Tiresias, which ignores the plan, does.
TEST(PhillyTest, DroverLeavesNoConsumerOwedWhileTiresiasDoes) {
  auto rows = LoadPhillyTrace(DataDir() + "/pollux/traces/philly.csv");
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  PhillyOptions o;
  o.days = 2;
  o.gpus = 256;
  double owed[2] = {0, 0};
  const char* names[2] = {"drover", "tiresias"};
  for (int k = 0; k < 2; ++k) {
    auto w = BuildPhillyWorkload(*rows, o);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    auto policy = sched::MakePolicy(names[k]).value();
    SimOptions opt;
    opt.nodes = o.gpus / 8;
    opt.gpus_per_node = 8;
    opt.start_time = w->start;
    opt.max_time = 3 * 86400;
    opt.fairness = true;
    SimResult r = Simulate(std::move(w->jobs), w->plan, *policy, opt);
    for (const ConsumerFairness& f : r.fairness) owed[k] += f.owed_gpu_seconds;
  }
  EXPECT_EQ(owed[0], 0) << "drover";
  EXPECT_GT(owed[1], 3600) << "tiresias";
}

TEST(PhillyTest, BadDateIsAClearError) {
  auto t = ParseUtc("yesterday");
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("'yesterday' is not a date"), std::string::npos);
}

TEST(WorkloadTest, ErrorsNameFileAndLine) {
  std::string path = ::testing::TempDir() + "/bad-workload.csv";
  std::ofstream(path) << "name,time,application,num_replicas,batch_size\n"
                         "a,1,cifar10,1,128\n"
                         "b,2,cifar10,zero,128\n";
  auto w = LoadWorkload(path);
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.status().message(), path + ":3: num_replicas 'zero' must be a positive integer");
}

TEST(WorkloadTest, BundledWorkloadsLoad) {
  for (int i = 1; i <= 4; ++i) {
    auto w = LoadWorkload(DataDir() + "/pollux/workloads/workload-" + std::to_string(i) + ".csv");
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    EXPECT_EQ(w->size(), 160u);
  }
}

}  // namespace
}  // namespace drover::sim

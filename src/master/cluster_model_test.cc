#include "master/cluster_model.h"

#include <gtest/gtest.h>

#include "spec/plan_parser.h"

namespace drover::master {
namespace {

const Principal kAdmin{Role::kAdmin, "admin", {"/"}, 0};
const WorkerEnvContext kCtx{"http://127.0.0.1:8080", "secret"};

class ClusterModelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    policy_ = sched::MakePolicy("drover").value();
    const char* plan = "consumers:\n  - name: a\n    owned: 2\n  - name: b\n    owned: 2\n";
    store::WriteBatch b;
    ASSERT_TRUE(model_.ApplyPlan(ParsePlan(plan, "plan.yaml").value(), plan, &b).ok());
    model_.RegisterHost({"h1", {4, 16000, 65536}, "[]", "up", 0, 0}, "127.0.0.1", 0, &b);
  }

  JobId Submit(const std::string& yaml, double now = 0) {
    store::WriteBatch b;
    auto job = ParseJobSpec(yaml, "job.yaml");
    EXPECT_TRUE(job.ok()) << job.status().ToString();
    auto id = model_.Submit(*job, yaml, kAdmin, now, &b);
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    return *id;
  }

  // The agent of h1 runs what it is told and reports it running.
  std::vector<DesiredWorker> AgentRuns(double now, std::vector<ReportedWorker> extra = {}) {
    store::WriteBatch b;
    auto desired = model_.Desired("h1", kCtx);
    std::vector<ReportedWorker> report = extra;
    int pid = 1000;
    for (const auto& d : desired) report.push_back({d.job, d.rank, d.generation, pid++, false, 0, 0});
    model_.Sync("h1", report, now, kCtx, &b);
    return model_.Desired("h1", kCtx);
  }

  const std::string& State(JobId id) { return model_.FindJob(id)->rec.state; }

  ClusterModel model_;
  std::unique_ptr<sched::Policy> policy_;
};

TEST_F(ClusterModelTest, RigidJobRunsAndSucceeds) {
  JobId id = Submit("name: r\nconsumer: /a\nworkers: 2\ncommand: [\"true\"]\n");
  EXPECT_EQ(State(id), kPending);
  store::WriteBatch b;
  model_.Schedule(*policy_, 1, &b);
  EXPECT_EQ(State(id), kStarting);
  auto desired = AgentRuns(2);
  ASSERT_EQ(desired.size(), 2u);
  EXPECT_EQ(desired[0].env.at("WORLD_SIZE"), "2");
  EXPECT_EQ(desired[1].env.at("RANK"), "1");
  EXPECT_EQ(desired[1].env.at("CUDA_VISIBLE_DEVICES"), "1");
  EXPECT_EQ(desired[0].env.at("DROVER_TOKEN"), ClusterModel::JobToken(id, "secret"));
  EXPECT_EQ(State(id), kRunning);
  std::vector<ReportedWorker> exits;
  for (const auto& d : desired) exits.push_back({d.job, d.rank, d.generation, 1, true, 0, 0});
  model_.Sync("h1", exits, 3, kCtx, &b);
  EXPECT_EQ(State(id), kSucceeded);
  EXPECT_TRUE(model_.Desired("h1", kCtx).empty());
}

TEST_F(ClusterModelTest, FailedWorkerRestartsAllThenFails) {
  JobId id = Submit("name: r\nconsumer: /a\nworkers: 2\nmax_restarts: 1\ncommand: [\"false\"]\n");
  store::WriteBatch b;
  model_.Schedule(*policy_, 1, &b);
  auto desired = AgentRuns(2);
  model_.Sync("h1", {{id, 0, desired[0].generation, 1, true, 3, 0}}, 3, kCtx, &b);
  EXPECT_EQ(State(id), kStarting);
  EXPECT_EQ(model_.FindJob(id)->rec.restarts, 1);
  desired = AgentRuns(4);
  ASSERT_EQ(desired.size(), 2u);
  EXPECT_GT(desired[0].generation, 1);  // a new generation replaces every worker
  model_.Sync("h1", {{id, 1, desired[1].generation, 1, true, 1, 0}}, 5, kCtx, &b);
  EXPECT_EQ(State(id), kFailed);
  EXPECT_TRUE(model_.Desired("h1", kCtx).empty());
}

TEST_F(ClusterModelTest, ElasticJobShrinksForAnotherConsumerKeepingItsWorkers) {
  JobId first = Submit("name: e1\nconsumer: /a\nworkers: {min: 1, max: 4}\ncommand: [\"sleep\", \"100\"]\n");
  store::WriteBatch b;
  model_.Schedule(*policy_, 1, &b);
  auto desired = AgentRuns(2);
  ASSERT_EQ(desired.size(), 4u);
  JobId second = Submit("name: e2\nconsumer: /b\nworkers: {min: 1, max: 4}\ncommand: [\"sleep\", \"100\"]\n", 3);
  model_.Schedule(*policy_, 4, &b);
  desired = AgentRuns(5);
  int a = 0, bb = 0;
  for (const auto& d : desired) (d.job == first ? a : bb)++;
  EXPECT_EQ(a, 2);
  EXPECT_EQ(bb, 2);
  // The first job's remaining workers are ranks 0 and 1 of its first generation: the same processes.
  for (const auto& d : desired) {
    if (d.job == first) {
      EXPECT_LT(d.rank, 2);
    }
  }
  ASSERT_EQ(model_.FindJob(first)->rescales.size(), 1u);
  EXPECT_EQ(model_.FindJob(first)->rescales[0].to, 2);
  EXPECT_EQ(State(second), kRunning);
}

TEST_F(ClusterModelTest, UnknownConsumerAndImpossibleJobsAreRefused) {
  store::WriteBatch b;
  auto job = ParseJobSpec("name: x\nconsumer: /nope\ncommand: [\"true\"]\n", "job.yaml");
  auto id = model_.Submit(*job, "", kAdmin, 0, &b);
  ASSERT_FALSE(id.ok());
  EXPECT_EQ(id.status().code(), StatusCode::kNotFound);
  job = ParseJobSpec("name: x\nconsumer: /a\nresources: {gpus: 8}\ncommand: [\"true\"]\n", "job.yaml");
  id = model_.Submit(*job, "", kAdmin, 0, &b);
  ASSERT_FALSE(id.ok());
  EXPECT_NE(id.status().message().find("no host can hold one worker"), std::string::npos) << id.status().message();
  EXPECT_TRUE(b.jobs.empty());
}

TEST_F(ClusterModelTest, UsersActOnlyInTheirSubtree) {
  store::WriteBatch b;
  Principal alice{Role::kUser, "alice", {"/a"}, 0};
  auto job = ParseJobSpec("name: x\nconsumer: /b\ncommand: [\"true\"]\n", "job.yaml");
  auto id = model_.Submit(*job, "", alice, 0, &b);
  ASSERT_FALSE(id.ok());
  EXPECT_EQ(id.status().code(), StatusCode::kPermissionDenied);
}

TEST_F(ClusterModelTest, LostWorkerOfAnElasticJobShrinksIt) {
  JobId id = Submit("name: e\nconsumer: /a\nworkers: {min: 1, max: 4}\ncommand: [\"sleep\", \"9\"]\n");
  store::WriteBatch b;
  model_.Schedule(*policy_, 1, &b);
  auto desired = AgentRuns(2);
  ASSERT_EQ(desired.size(), 4u);
  std::vector<ReportedWorker> report;
  for (int r = 0; r < 3; ++r) report.push_back({id, r, desired[r].generation, 1000 + r, false, 0, 0});
  report.push_back({id, 3, desired[3].generation, 1003, true, 0, 9});
  model_.Sync("h1", report, 3, kCtx, &b);
  EXPECT_EQ(State(id), kRunning);
  EXPECT_EQ(model_.Desired("h1", kCtx).size(), 3u);
}

TEST_F(ClusterModelTest, CancelStopsWorkers) {
  JobId id = Submit("name: c\nconsumer: /a\nworkers: 2\ncommand: [\"sleep\", \"9\"]\n");
  store::WriteBatch b;
  model_.Schedule(*policy_, 1, &b);
  AgentRuns(2);
  ASSERT_TRUE(model_.Cancel(id, "by test", 3, &b).ok());
  EXPECT_EQ(State(id), kCancelled);
  EXPECT_TRUE(model_.Desired("h1", kCtx).empty());
  EXPECT_EQ(model_.Cancel(id, "again", 4, &b).code(), StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace drover::master

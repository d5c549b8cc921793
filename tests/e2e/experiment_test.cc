// End to end: hyperparameter-optimisation experiments on a real server and
// agent, with trials that are small shell programs printing drover-metric
// lines (score = epoch * (1 - (x - 0.3)^2): best near x = 0.3).
#include <signal.h>

#include <filesystem>
#include <map>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "tests/e2e/cluster.h"

namespace drover::e2e {
namespace {

using json = nlohmann::json;

// A trial of `epochs` epochs of `pause` seconds; exits `fail` when k is 2 (unless 0).
std::string Trial(int epochs, double pause, int fail = 0) {
  std::string script = "for e in $(seq 1 " + std::to_string(epochs) + "); do awk -v e=$e -v x=${params.x} "
                       "'BEGIN{printf \\\"drover-metric {\\\\\\\"epoch\\\\\\\": %d, \\\\\\\"score\\\\\\\": %.6f}\\\\n\\\", "
                       "e, e*(1-(x-0.3)^2)}'; sleep " + std::to_string(pause) + "; done";
  if (fail) script = "if [ \\\"${params.k}\\\" = 2 ]; then echo broken >&2; exit " + std::to_string(fail) + "; fi; " + script;
  return "trial:\n  resources: {gpus: 1, cpus: 0.1, memory: 64Mi}\n  command: [\"/bin/sh\", \"-c\", \"" + script + "\"]\n";
}

class ExperimentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    cluster_ = std::make_unique<LocalCluster>(DROVER_BINARY, ::testing::TempDir() + "/drover-e2e-exp-" + name);
    ASSERT_TRUE(cluster_->Start(1, 4, /*heartbeat_timeout=*/30)) << "see " << cluster_->dir() << "/*.log";
  }
  void TearDown() override {
    std::string dir = cluster_ ? cluster_->dir() : "";
    cluster_.reset();
    if (!HasFailure() && !dir.empty()) std::filesystem::remove_all(dir);
  }
  json Experiment(int64_t id) { return cluster_->Call("GET", "/api/v1/experiments/" + std::to_string(id) + "/trials").json; }
  // Waits for experiment `id` to end; its final state.
  json WaitEnded(int64_t id, double seconds, int max_running = 1 << 30) {
    json e;
    EXPECT_TRUE(LocalCluster::WaitFor([&] {
      e = Experiment(id);
      EXPECT_LE(e.value("trials_running", 0), max_running) << "more trials at once than max_parallel";
      return e.value("state", "RUNNING") != "RUNNING";
    }, seconds)) << e.dump();
    return e;
  }
  int64_t Submit(const std::string& yaml) {
    HttpReply r = cluster_->Call("POST", "/api/v1/experiments?file=exp.yaml", yaml);
    EXPECT_EQ(r.status, 201) << r.body;
    return r.json.value("id", int64_t{0});
  }
  std::unique_ptr<LocalCluster> cluster_;
};

TEST_F(ExperimentTest, AshaRunsTrialsAsJobsStopsLaggardsAndFinishesWithTheBest) {
  int64_t id = Submit("name: quad\nsearch:\n  algorithm: asha\n  metric: score\n  goal: maximize\n  max_trials: 8\n"
                      "  max_parallel: 2\n  seed: 3\n  resource: {name: epochs, min: 1, max: 9, reduction_factor: 3}\n"
                      "parameters:\n  x: {type: double, min: 0, max: 1}\n" + Trial(9, 0.3));
  json e = WaitEnded(id, 90, /*max_running=*/2);
  std::printf("%s\n", e["reason"].get<std::string>().c_str());
  EXPECT_EQ(e["state"], "SUCCEEDED");
  ASSERT_EQ(e["trials"].size(), 8u);
  std::set<int64_t> jobs;
  int stopped = 0;
  double best = -1;
  for (const json& t : e["trials"]) {
    jobs.insert(t["job"].get<int64_t>());
    EXPECT_NE(t["state"], "FAILED") << t.dump();
    if (t.contains("latest")) best = std::max(best, t["latest"].get<double>());
    if (t["state"] == "STOPPED") {
      ++stopped;
      EXPECT_NE(t["reason"].get<std::string>().find("stopped early: rung"), std::string::npos) << t.dump();
      // Its job was cancelled, so its GPU went back to the pool.
      json job = cluster_->Call("GET", "/api/v1/jobs/" + std::to_string(t["job"].get<int64_t>())).json;
      EXPECT_EQ(job["state"], "CANCELLED") << job.dump();
      EXPECT_LT(t["curve"].size(), 9u);
    } else {
      EXPECT_EQ(t["curve"].size(), 9u) << t.dump();  // every epoch's report, once
      // Promoted past its rungs: its job ranks above the trials still below them.
      json job = cluster_->Call("GET", "/api/v1/jobs/" + std::to_string(t["job"].get<int64_t>())).json;
      EXPECT_EQ(job["priority"], t["rung"].get<int>() + 1) << job.dump();
    }
  }
  EXPECT_EQ(jobs.size(), 8u) << "a job per trial";
  EXPECT_GE(stopped, 1) << "ASHA stopped no trial";
  EXPECT_DOUBLE_EQ(e["best"]["value"].get<double>(), best);
}

// kill -9 of the server mid-experiment: it resumes from the store, starts no
// trial twice, and loses or repeats no reported metric.
TEST_F(ExperimentTest, ASurvivesAServerKillNineWithoutDuplicateTrialsOrLostMetrics) {
  int64_t id = Submit("name: resume\nsearch:\n  algorithm: tpe\n  metric: score\n  goal: maximize\n  max_trials: 6\n"
                      "  max_parallel: 2\nparameters:\n  x: {type: double, min: 0, max: 1}\n" + Trial(6, 0.4));
  ASSERT_TRUE(LocalCluster::WaitFor([&] {
    json e = Experiment(id);
    int reporting = 0;
    for (const json& t : e.value("trials", json::array())) reporting += t.value("reports", 0) >= 2;
    return e.value("trials_started", 0) >= 3 && reporting >= 1;
  }, 60)) << Experiment(id).dump();
  cluster_->KillServer(SIGKILL);
  ASSERT_TRUE(cluster_->StartServer()) << "see " << cluster_->dir() << "/server.log";
  json e = WaitEnded(id, 90);
  EXPECT_EQ(e["state"], "SUCCEEDED") << e.dump();
  ASSERT_EQ(e["trials"].size(), 6u);
  std::set<int64_t> jobs;
  for (const json& t : e["trials"]) {
    jobs.insert(t["job"].get<int64_t>());
    // Each trial's job reported epochs 1..6 exactly once: the restart lost none and repeated none.
    json m = cluster_->Call("GET", "/api/v1/jobs/" + std::to_string(t["job"].get<int64_t>()) + "/metrics").json;
    std::vector<int> epochs;
    for (const json& r : m["metrics"]) epochs.push_back(r["values"]["epoch"].get<int>());
    EXPECT_EQ(epochs, (std::vector<int>{1, 2, 3, 4, 5, 6})) << "trial " << t["index"] << ": " << m.dump();
  }
  EXPECT_EQ(jobs.size(), 6u) << "a trial was started twice";
  EXPECT_EQ(cluster_->Call("GET", "/api/v1/jobs").json["jobs"].size(), 6u);
}

// A trial that crashes counts against max_failed_trials; within it the
// experiment goes on, past it the experiment fails, saying why.
TEST_F(ExperimentTest, ACrashingTrialCountsAsFailedAndTheExperimentGoesOn) {
  const std::string params = "parameters:\n  k: {type: ordinal, values: [1, 2, 3]}\n  x: {type: categorical, values: [0.3]}\n";
  int64_t tolerant = Submit("name: tolerant\nsearch:\n  algorithm: grid\n  metric: score\n  goal: maximize\n"
                            "  max_trials: 10\n  max_failed_trials: 2\n" + params + Trial(2, 0.1, 3));
  json e = WaitEnded(tolerant, 60);
  EXPECT_EQ(e["state"], "SUCCEEDED") << e.dump();
  EXPECT_NE(e["reason"].get<std::string>().find("every point of the grid was tried"), std::string::npos) << e.dump();
  ASSERT_EQ(e["trials"].size(), 3u);
  int failed = 0;
  for (const json& t : e["trials"]) {
    if (t["state"] == "FAILED") {
      ++failed;
      EXPECT_EQ(t["params"]["k"], "2");
      EXPECT_NE(t["reason"].get<std::string>().find("exit"), std::string::npos) << t.dump();
    }
  }
  EXPECT_EQ(failed, 1);
  int64_t strict = Submit("name: strict\nsearch:\n  algorithm: grid\n  metric: score\n  goal: maximize\n"
                          "  max_trials: 10\n  max_failed_trials: 1\n  seed: 5\n" + params + Trial(2, 0.1, 3));
  json s = WaitEnded(strict, 60);
  EXPECT_EQ(s["state"], "FAILED") << s.dump();
  EXPECT_EQ(s["reason"], "1 trials failed (max_failed_trials 1)");
}

TEST_F(ExperimentTest, ABadSpecIsRefusedWithItsLineAndCreatesNothing) {
  HttpReply r = cluster_->Call("POST", "/api/v1/experiments?file=exp.yaml",
                               "name: bad\nsearch:\n  algorithm: grid\n  metric: score\n  goal: maximize\n"
                               "parameters:\n  lr: {type: log, min: 0.001, max: 0.1}\n" + Trial(1, 0));
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("exp.yaml:7: parameters.lr: a grid needs discrete parameters"), std::string::npos) << r.body;
  r = cluster_->Call("POST", "/api/v1/experiments?file=exp.yaml",
                     "name: bad\nsearch: {algorithm: tpe, metric: score, goal: maximize}\n"
                     "parameters:\n  x: {type: double, min: 0, max: 1}\n"
                     "trial:\n  command: [echo, \"${params.y}\"]\n");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("exp.yaml:6: trial.command: ${params.y}: no parameter \\\"y\\\""), std::string::npos) << r.body;
  EXPECT_TRUE(cluster_->Call("GET", "/api/v1/experiments").json["experiments"].empty());
  EXPECT_TRUE(cluster_->Call("GET", "/api/v1/jobs").json["jobs"].empty());
}

// Two teams' experiments on one 4-GPU host split it by the plan (2 + 2), each
// asking for 4 trials at once; a team's trials beyond its share wait.
TEST_F(ExperimentTest, TwoConsumersExperimentsSplitTheClusterByThePlan) {
  ASSERT_EQ(cluster_->Call("PUT", "/api/v1/plan",
                           "consumers:\n  - name: alpha\n    owned: 2\n    reclaim_grace: 1\n"
                           "  - name: beta\n    owned: 2\n    reclaim_grace: 1\n").status, 200);
  const std::string body = "search:\n  algorithm: random\n  metric: score\n  goal: maximize\n  max_trials: 8\n"
                           "  max_parallel: 4\nparameters:\n  x: {type: double, min: 0, max: 1}\n" + Trial(1, 60);
  int64_t a = Submit("name: ea\nconsumer: /alpha\n" + body);
  int64_t b = Submit("name: eb\nconsumer: /beta\n" + body);
  auto running = [&](const std::string& consumer) {
    int n = 0;
    HttpReply r = cluster_->Call("GET", "/api/v1/jobs?consumer=" + consumer);  // named: the loop must not outlive it
    for (const json& j : r.json["jobs"]) n += j["state"] == "RUNNING";
    return n;
  };
  EXPECT_TRUE(LocalCluster::WaitFor([&] { return running("/alpha") == 2 && running("/beta") == 2; }, 40))
      << "alpha " << running("/alpha") << ", beta " << running("/beta");
  json ea = Experiment(a);
  EXPECT_EQ(ea["trials_started"], 4);
  int waiting = 0;
  for (const json& t : ea["trials"]) waiting += t.contains("pending_reason");
  EXPECT_EQ(waiting, 2) << ea.dump();
  for (int64_t id : {a, b}) {
    EXPECT_EQ(cluster_->Call("POST", "/api/v1/experiments/" + std::to_string(id) + "/stop", "{}").status, 200);
  }
  EXPECT_TRUE(LocalCluster::WaitFor([&] { return running("/alpha") + running("/beta") == 0; }, 20));
  EXPECT_EQ(Experiment(a)["state"], "STOPPED");
}

}  // namespace
}  // namespace drover::e2e

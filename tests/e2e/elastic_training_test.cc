// End-to-end elastic training: drover-train workers under a real server and
// agents on localhost, resized by the scheduler while they train.
#include <signal.h>

#include <algorithm>
#include <cstring>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "tests/e2e/cluster.h"

namespace drover::e2e {
namespace {

using json = nlohmann::json;

// Equal plans: each team owns 2 of the 4 slots (2 hosts x 2).
const char* kPlan = R"(consumers:
  - name: teams
    owned: 4
    children:
      - name: alpha
        owned: 2
        reclaim_grace: 2
      - name: beta
        owned: 2
        reclaim_grace: 2
)";

class ElasticTrainingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    dir_ = ::testing::TempDir() + "/drover-elastic-" + name;
    std::filesystem::remove_all(dir_);
    cluster_ = std::make_unique<LocalCluster>(DROVER_BINARY, dir_);
    ASSERT_TRUE(cluster_->Start(2, 2)) << "see " << dir_ << "/*.log";
    ASSERT_EQ(cluster_->Call("PUT", "/api/v1/plan", kPlan).status, 200);
  }
  void TearDown() override {
    cluster_.reset();
    if (!HasFailure()) std::filesystem::remove_all(dir_);
  }

  //! A drover-train job: the MLP on the first `limit` samples, throttled so
  //! that resizes land mid-training.
  std::string Job(const std::string& name, const std::string& consumer, int min, int max,
                  const std::string& args) {
    std::ostringstream y;
    y << "name: " << name << "\nconsumer: " << consumer << "\nworkers: {min: " << min << ", max: " << max << "}\n"
      << "resources: {gpus: 1, cpus: 0.5, memory: 2Gi}\n"
      << "command: [\"" << DROVER_TRAIN_BINARY << "\", \"--model\", \"mlp\", \"--threads\", \"1\", "
      << "\"--log-every\", \"100\", \"--epochs\", \"0\", \"--collective-timeout-ms\", \"8000\"" << args << "]\n";
    return y.str();
  }
  json Get(uint64_t id) { return cluster_->Call("GET", "/api/v1/jobs/" + std::to_string(id)).json; }
  //! A numeric field of a job, -1 while it is null (never reported).
  static int64_t Number(const json& job, const char* key) {
    return job.contains(key) && job[key].is_number() ? job[key].get<int64_t>() : -1;
  }
  static std::set<int> Pids(const json& job) {
    std::set<int> pids;
    for (const json& w : job["worker_list"]) pids.insert(w["pid"].get<int>());
    return pids;
  }
  int64_t Step(uint64_t id) { return Number(Get(id), "step"); }
  int World(uint64_t id) { return static_cast<int>(Number(Get(id), "world_size")); }
  std::set<int> Pids(uint64_t id) { return Pids(Get(id)); }
  //! The world is `n`, every worker has a PID and trains in a group of `n`
  //! (the world size the workers last reported), and training has moved past
  //! `step`. One read of the job.
  bool Running(uint64_t id, int n, int64_t step) {
    const json job = Get(id);
    std::set<int> p = Pids(job);
    return Number(job, "world_size") == n && Number(job, "reported_world_size") == n &&
           static_cast<int>(p.size()) == n && !p.count(0) && Number(job, "step") > step;
  }
  std::string Logs(uint64_t id, int worker) {
    return cluster_->Call("GET", "/api/v1/jobs/" + std::to_string(id) + "/logs?worker=" + std::to_string(worker)).body;
  }
  std::string Explain(uint64_t id) { return Get(id).dump().substr(0, 4000) + "\nrank 0 log:\n" + Logs(id, 0); }

  std::string dir_;
  std::unique_ptr<LocalCluster> cluster_;
};

// The issue's end-to-end case: two teams, equal plans, 4 slots.
TEST_F(ElasticTrainingTest, SecondTeamShrinksTheFirstFromFourToTwoWithSamePidsAndItGrowsBack) {
  uint64_t a = cluster_->Submit(Job("alpha", "/teams/alpha", 1, 4, ", \"--max-steps\", \"100000\", \"--min-step-ms\", \"20\""));
  ASSERT_NE(a, 0u);
  ASSERT_TRUE(LocalCluster::WaitFor([&] { return Running(a, 4, 5); }, 40)) << Explain(a);
  std::set<int> before = Pids(a);
  uint64_t b = cluster_->Submit(Job("beta", "/teams/beta", 1, 4, ", \"--max-steps\", \"150\", \"--min-step-ms\", \"20\""));
  ASSERT_NE(b, 0u);
  ASSERT_TRUE(LocalCluster::WaitFor([&] { return World(a) == 2 && Running(b, 2, 0); }, 40))
      << Explain(a) << "\n" << Explain(b);
  const int64_t step_at_shrink = Step(a);
  std::set<int> after = Pids(a);
  ASSERT_EQ(after.size(), 2u);
  for (int p : after) EXPECT_TRUE(before.count(p)) << "worker " << p << " is new: alpha was restarted";
  // Alpha keeps training on 2 while beta runs, then grows back when beta ends.
  ASSERT_TRUE(cluster_->WaitState(b, "SUCCEEDED", 60)) << Explain(b);
  ASSERT_TRUE(LocalCluster::WaitFor([&] { return Running(a, 4, step_at_shrink); }, 40)) << Explain(a);
  std::set<int> regrown = Pids(a);
  for (int p : after) EXPECT_TRUE(regrown.count(p)) << "worker " << p << " was replaced when alpha grew";

  json j = Get(a);
  std::vector<std::pair<int, int>> seen;
  for (const json& r : j["rescales"]) {
    seen.push_back({r["from"].get<int>(), r["to"].get<int>()});
    if (r["to"].get<int>() == 2 || (r["from"].get<int>() == 2 && r["to"].get<int>() == 4)) {
      ASSERT_TRUE(LocalCluster::WaitFor([&] {
        const json now = Get(a);
        for (const json& s : now["rescales"]) {
          if (s["from"] == r["from"] && s["to"] == r["to"] && s["pause_ms"].is_number()) return true;
        }
        return false;
      }, 10)) << j["rescales"].dump();
    }
  }
  EXPECT_NE(std::find(seen.begin(), seen.end(), std::make_pair(4, 2)), seen.end()) << j["rescales"].dump();
  EXPECT_NE(std::find(seen.begin(), seen.end(), std::make_pair(2, 4)), seen.end()) << j["rescales"].dump();
  const json final_job = Get(a);
  for (const json& r : final_job["rescales"]) {
    if (r["pause_ms"].is_number()) {
      std::printf("alpha rescaled %d -> %d: pause %.1f ms\n", r["from"].get<int>(), r["to"].get<int>(),
                  r["pause_ms"].get<double>());
    }
  }
  LocalCluster::WaitFor([&] { return Logs(a, 0).find("rescaled 2 -> 4") != std::string::npos; }, 10);
  std::istringstream log(Logs(a, 0));
  for (std::string line; std::getline(log, line);) {
    if (line.find("rescaled") != std::string::npos || line.find("generation") != std::string::npos) {
      std::printf("rank 0: %s\n", line.c_str());
    }
  }
  // The runtime posted its measured steps: the server learned alpha's speed
  // at the sizes it ran (4, 2, 4 again), with the gradient noise of its group.
  ASSERT_TRUE(LocalCluster::WaitFor([&] {
    const json p = Get(a)["profile"];
    return p.is_object() && p["points"].get<int>() >= 2 && p["gradient_noise"].is_object();
  }, 10)) << Get(a)["profile"].dump();
  const json profile = Get(a)["profile"];
  std::printf("alpha's learned profile: %s\nmeasured: %s\n", profile["by_size"].dump().c_str(),
              profile["measured"].dump().c_str());
  for (const json& m : profile["measured"]) {
    EXPECT_GT(m["step_s"].get<double>(), 0);
    EXPECT_LE(m["compute_s"].get<double>(), m["step_s"].get<double>());
  }
  // It posts what it has left of its 100000 steps of 64 samples, which the
  // profile turns into time (what the scheduler weighs it by).
  const json left = Get(a);
  ASSERT_TRUE(left["samples_left"].is_number()) << left.dump();
  EXPECT_GT(left["samples_left"].get<double>(), 0);
  EXPECT_LE(left["samples_left"].get<double>(), (100000.0 - left["step"].get<double>()) * 64);
  EXPECT_TRUE(left["profile"]["time_left_s"].is_number()) << left["profile"].dump();
  EXPECT_EQ(cluster_->Call("POST", "/api/v1/jobs/" + std::to_string(a) + "/cancel", "{}").status, 200);
}

// --batch-mode adaptive: at every resize the group takes the batch rank 0's
// model of the job gives the best goodput at the new size, within [64, 512].
TEST_F(ElasticTrainingTest, AdaptiveBatchModeChoosesTheBatchAtEachResize) {
  uint64_t a = cluster_->Submit(Job("alpha", "/teams/alpha", 1, 4,
                                    ", \"--max-steps\", \"100000\", \"--min-step-ms\", \"20\", \"--batch-mode\", "
                                    "\"adaptive\", \"--global-batch\", \"64\", \"--max-batch\", \"512\""));
  ASSERT_NE(a, 0u);
  ASSERT_TRUE(LocalCluster::WaitFor([&] { return Running(a, 4, 20); }, 40)) << Explain(a);
  uint64_t b = cluster_->Submit(Job("beta", "/teams/beta", 2, 2, ", \"--max-steps\", \"100000\""));
  ASSERT_NE(b, 0u);
  ASSERT_TRUE(LocalCluster::WaitFor([&] { return World(a) == 2; }, 40)) << Explain(a);
  std::string line;
  ASSERT_TRUE(LocalCluster::WaitFor([&] {
    std::istringstream log(Logs(a, 0));
    for (std::string l; std::getline(log, l);) {
      if (l.find("adaptive batch: 2 workers") != std::string::npos) line = l;
    }
    return !line.empty();
  }, 20)) << Logs(a, 0);
  std::printf("rank 0: %s\n", line.c_str());
  // From what it measured on 4 workers, the batch it chose for 2.
  const size_t at = line.find("global batch ");
  ASSERT_NE(at, std::string::npos);
  const int batch = std::atoi(line.c_str() + at + 13);
  EXPECT_GE(batch, 64);
  EXPECT_LE(batch, 512);
  EXPECT_EQ(line.find("from 0 measured sizes"), std::string::npos) << "it chose without measurements";
  // The server's profile knows the job chooses its batch.
  ASSERT_TRUE(LocalCluster::WaitFor([&] { return Get(a)["profile"].is_object(); }, 10));
  const json profile = Get(a)["profile"];
  EXPECT_EQ(profile["max_batch"], 512) << profile.dump();
  std::printf("alpha's learned profile: %s\n", profile["by_size"].dump().c_str());
  for (uint64_t id : {a, b}) {
    EXPECT_EQ(cluster_->Call("POST", "/api/v1/jobs/" + std::to_string(id) + "/cancel", "{}").status, 200);
  }
}

TEST_F(ElasticTrainingTest, SigkillOfOneOfThreeWorkersAndTheJobFinishes) {
  // A short collective timeout: the replacement the scheduler starts joins
  // after its first rendezvous (with survivors that went on without it) fails.
  uint64_t id = cluster_->Submit(Job("f", "/teams/alpha", 1, 3,
                                     ", \"--max-steps\", \"700\", \"--min-step-ms\", \"20\", "
                                     "\"--collective-timeout-ms\", \"3000\""));
  ASSERT_TRUE(LocalCluster::WaitFor([&] { return Running(id, 3, 20); }, 40)) << Explain(id);
  json j = Get(id);
  int victim = 0;
  for (const json& w : j["worker_list"]) {
    if (w["rank"].get<int>() != 0) victim = w["pid"].get<int>();
  }
  ASSERT_GT(victim, 0);
  const int64_t step = Step(id);
  ASSERT_EQ(::kill(victim, SIGKILL), 0);
  // The survivors go on as 2 (the freed slot may bring a newcomer back later).
  ASSERT_TRUE(LocalCluster::WaitFor([&] { return Step(id) > step + 20; }, 30)) << Explain(id);
  ASSERT_TRUE(cluster_->WaitState(id, "SUCCEEDED", 60)) << Explain(id);
  bool lost = false;
  const json done = Get(id);
  for (const json& r : done["rescales"]) lost |= r["from"] == 3 && r["to"] == 2;
  EXPECT_TRUE(lost) << Get(id)["rescales"].dump();
  for (const json& e : done["events"]) {
    std::printf("event %.3f %s\n", e["time"].get<double>(), e["message"].get<std::string>().c_str());
  }
  // Rank 0 saw the failed step, rolled it back and went on in a new group.
  EXPECT_TRUE(LocalCluster::WaitFor([&] { return Logs(id, 0).find("summary") != std::string::npos; }, 10));
  const std::string log0 = Logs(id, 0);
  const size_t failed = log0.find("rolled back");
  EXPECT_NE(failed, std::string::npos) << log0;
  // Normally "rescaled 3 -> 2" at once and "2 -> 3" when the replacement has
  // started; if the survivors read the membership between the two changes a
  // failure brings, they converge through a regroup instead. Either way rank 0
  // trains in a new group after the failure.
  const size_t regrouped = std::min(log0.find("rescaled", failed), log0.find("formed generation", failed));
  EXPECT_NE(regrouped, std::string::npos) << log0;
  std::istringstream log(log0);
  for (std::string line; std::getline(log, line);) {
    if (line.find("rescaled") != std::string::npos || line.find("rolled back") != std::string::npos ||
        line.find("formed") != std::string::npos) {
      std::printf("rank 0: %s\n", line.c_str());
    }
  }
}

std::vector<float> ReadFloats(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<float> out(bytes.size() / sizeof(float));
  std::memcpy(out.data(), bytes.data(), out.size() * sizeof(float));
  return out;
}

//! The largest |a[i] - b[i]|; infinite when the sizes differ, either is
//! empty, or either holds a NaN or infinity at any position.
double MaxDiff(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size() || a.empty()) return INFINITY;
  double diff = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i]) || !std::isfinite(b[i])) return INFINITY;
    diff = std::max(diff, std::fabs(static_cast<double>(a[i]) - static_cast<double>(b[i])));
  }
  return diff;
}

TEST(MaxDiffTest, FindsTheLargestDifferenceAndRefusesNaNs) {
  EXPECT_EQ(MaxDiff({1, 2, 3}, {1, 2, 3}), 0.0);
  EXPECT_DOUBLE_EQ(MaxDiff({1, 2, 3}, {1, 2.5f, 2}), 1.0);
  EXPECT_EQ(MaxDiff({1, NAN}, {1, NAN}), INFINITY);
  EXPECT_EQ(MaxDiff({1, 2}, {1, INFINITY}), INFINITY);
  EXPECT_EQ(MaxDiff({1, 2}, {1}), INFINITY);
  EXPECT_EQ(MaxDiff({}, {}), INFINITY);
}

//! Runs drover-train (MLP, 1 thread) as a fixed group of `world` by hand, as
//! torchrun would; rank r's output goes to `<log>-<r>.log`. True if all exit 0.
bool RunStatic(int world, const std::vector<std::string>& args, const std::string& log) {
  static int next_port = 29000 + getpid() % 500;
  const int port = next_port++;
  std::vector<pid_t> pids;
  std::fflush(stdout);  // or each child's freopen writes our buffered lines again
  for (int rank = 0; rank < world; ++rank) {
    pid_t pid = fork();
    if (pid == 0) {
      setenv("RANK", std::to_string(rank).c_str(), 1);
      setenv("WORLD_SIZE", std::to_string(world).c_str(), 1);
      setenv("MASTER_ADDR", "127.0.0.1", 1);
      setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
      std::string out = log + "-" + std::to_string(rank) + ".log";
      if (!freopen(out.c_str(), "w", stdout)) _exit(126);
      std::vector<std::string> all = {DROVER_TRAIN_BINARY, "--model", "mlp", "--threads", "1"};
      all.insert(all.end(), args.begin(), args.end());
      std::vector<char*> argv;
      for (auto& a : all) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    pids.push_back(pid);
  }
  bool ok = true;
  for (pid_t pid : pids) {
    int status = 0;
    ok = waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0 && ok;
  }
  return ok;
}

//! Rank 0's summary line of a RunStatic.
json Summary(const std::string& log) {
  std::ifstream in(log + "-0.log");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("summary ", 0) == 0) return json::parse(line.substr(8), nullptr, false);
  }
  return json();
}

// Per-worker batch mode: the global batch is world x per-worker batch, and the
// linear rule scales the learning rate with the world, so 2 workers of 32 at
// lr 0.025 train exactly what the constant-global-batch mode does with 64 at 0.05.
TEST(ElasticTrainingStandaloneTest, PerWorkerBatchModeScalesBatchAndLearningRateWithTheWorld) {
  const std::string dir = ::testing::TempDir() + "/drover-per-worker";
  std::filesystem::create_directories(dir);
  const std::vector<std::string> common = {"--train-limit", "1280", "--epochs", "1", "--log-every", "0"};
  auto with = [&](std::vector<std::string> more) {
    more.insert(more.begin(), common.begin(), common.end());
    return more;
  };
  ASSERT_TRUE(RunStatic(2, with({"--batch-mode", "per-worker", "--per-worker-batch", "32", "--lr-scaling", "linear",
                                 "--lr", "0.025", "--save-params", dir + "/per-worker.bin"}),
                        dir + "/pw2"));
  ASSERT_TRUE(RunStatic(1, with({"--batch-mode", "per-worker", "--per-worker-batch", "32", "--lr-scaling", "sqrt"}),
                        dir + "/pw1"));
  ASSERT_TRUE(RunStatic(2, with({"--global-batch", "64", "--lr", "0.05", "--save-params", dir + "/global.bin"}),
                        dir + "/g2"));
  EXPECT_EQ(Summary(dir + "/pw2").value("steps", -1), 20);  // 1280 / (2 x 32)
  EXPECT_EQ(Summary(dir + "/pw1").value("steps", -1), 40);  // 1280 / (1 x 32)
  const double diff = MaxDiff(ReadFloats(dir + "/per-worker.bin"), ReadFloats(dir + "/global.bin"));
  std::printf("per-worker 2 x 32 at lr 0.025 (linear) vs global 64 at lr 0.05: max |parameter difference| = %.3g\n",
              diff);
  EXPECT_LT(diff, 1e-6);
  EXPECT_EQ(RunStatic(1, with({"--lr-scaling", "cubic"}), dir + "/bad"), false);  // a clear error, not a default
  if (!::testing::Test::HasFailure()) std::filesystem::remove_all(dir);
}

// A job that is preempted or restarted resumes from its checkpoint: 40 steps,
// a new process, 40 more, ends exactly where 80 steps in one go do.
TEST(ElasticTrainingStandaloneTest, RestartResumesFromTheCheckpointExactly) {
  const std::string dir = ::testing::TempDir() + "/drover-checkpoint";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::vector<std::string> common = {"--train-limit", "2560", "--epochs", "0", "--log-every", "0"};
  auto with = [&](std::vector<std::string> more) {
    more.insert(more.begin(), common.begin(), common.end());
    return more;
  };
  ASSERT_TRUE(RunStatic(2, with({"--max-steps", "40", "--checkpoint-dir", dir + "/ckpt", "--checkpoint-every", "15"}),
                        dir + "/first"));
  ASSERT_TRUE(std::filesystem::exists(dir + "/ckpt/state.pt"));
  ASSERT_TRUE(RunStatic(2, with({"--max-steps", "80", "--checkpoint-dir", dir + "/ckpt", "--save-params",
                                 dir + "/resumed.bin"}),
                        dir + "/second"));
  ASSERT_TRUE(RunStatic(2, with({"--max-steps", "80", "--save-params", dir + "/straight.bin"}), dir + "/straight"));
  EXPECT_EQ(Summary(dir + "/second").value("steps", -1), 80);
  {
    std::ifstream in(dir + "/second-0.log");
    std::string log((std::istreambuf_iterator<char>(in)), {});
    EXPECT_NE(log.find("resumed from checkpoint"), std::string::npos) << log;
    EXPECT_NE(log.find("at step 40\n"), std::string::npos) << "the second run did not resume at step 40:\n" << log;
  }
  const double diff = MaxDiff(ReadFloats(dir + "/resumed.bin"), ReadFloats(dir + "/straight.bin"));
  std::printf("40 + 40 steps across a restart vs 80 in one run: max |parameter difference| = %.3g\n", diff);
  EXPECT_EQ(diff, 0.0);  // bit for bit
  // A corrupt checkpoint is refused with its path, not trained over.
  { std::ofstream(dir + "/ckpt/state.pt", std::ios::trunc) << "not a checkpoint"; }
  EXPECT_FALSE(RunStatic(1, with({"--max-steps", "90", "--checkpoint-dir", dir + "/ckpt"}), dir + "/corrupt"));
  if (!::testing::Test::HasFailure()) std::filesystem::remove_all(dir);
}

// The negative control of the equivalence tests: the same static run with
// another seed ends measurably elsewhere, and the same run twice ends at the
// same bits, so MaxDiff at these sizes tells a right run from a wrong one.
TEST(ElasticTrainingStandaloneTest, NegativeControlAnotherSeedEndsElsewhere) {
  const std::string dir = ::testing::TempDir() + "/drover-negative-control";
  std::filesystem::create_directories(dir);
  auto run = [&](const std::string& seed, const std::string& out) {
    return RunStatic(2, {"--train-limit", "3200", "--global-batch", "64", "--epochs", "1", "--seed", seed,
                         "--save-params", dir + "/" + out},
                     dir + "/" + out);
  };
  ASSERT_TRUE(run("1", "a.bin"));
  ASSERT_TRUE(run("1", "b.bin"));
  ASSERT_TRUE(run("2", "c.bin"));
  const double same = MaxDiff(ReadFloats(dir + "/a.bin"), ReadFloats(dir + "/b.bin"));
  const double other = MaxDiff(ReadFloats(dir + "/a.bin"), ReadFloats(dir + "/c.bin"));
  std::printf("static 2 workers, one epoch: same seed twice %.3g, seed 1 vs seed 2 %.3g\n", same, other);
  EXPECT_EQ(same, 0.0);
  EXPECT_GT(other, 1e-2);
  if (!::testing::Test::HasFailure()) std::filesystem::remove_all(dir);
}

// Constant global batch: one epoch trained 1 -> 2 -> 1 through the platform
// ends where a static 2-worker run ends, and uses every sample exactly once.
TEST_F(ElasticTrainingTest, OneTwoOneScheduleMatchesStaticRunAndUsesEverySampleOnce) {
  const std::string samples = dir_ + "/samples", elastic = dir_ + "/elastic.bin", fixed = dir_ + "/static.bin";
  std::filesystem::create_directories(samples);
  const std::string common = ", \"--train-limit\", \"3200\", \"--global-batch\", \"64\", \"--epochs\", \"1\"";
  // Alpha's own rigid jobs steer the schedule: one holds 3 of the 4 slots so
  // the job starts on 1; when it ends the job grows to 2; a higher-priority
  // one then takes 3 slots back, and the job shrinks to 1 again.
  const std::string blocker = "consumer: /teams/alpha\nworkers: 3\nresources: {gpus: 1, cpus: 0.5, memory: 2Gi}\n"
                              "command: [\"sleep\", \"300\"]\n";
  uint64_t first = cluster_->Submit("name: hold\n" + blocker);
  ASSERT_TRUE(cluster_->WaitState(first, "RUNNING", 20));
  uint64_t id = cluster_->Submit(Job("eq", "/teams/alpha", 1, 2,
                                     common + ", \"--min-step-ms\", \"150\", \"--record-samples\", \"" + samples +
                                         "\", \"--save-params\", \"" + elastic + "\""));
  ASSERT_TRUE(LocalCluster::WaitFor([&] { return Running(id, 1, 8); }, 30)) << Explain(id);
  ASSERT_EQ(cluster_->Call("POST", "/api/v1/jobs/" + std::to_string(first) + "/cancel", "{}").status, 200);
  ASSERT_TRUE(LocalCluster::WaitFor([&] { return Running(id, 2, 0); }, 30)) << Explain(id);
  const int64_t grown_at = Step(id);
  ASSERT_TRUE(LocalCluster::WaitFor([&] { return Step(id) > grown_at + 8; }, 30)) << Explain(id);
  uint64_t second = cluster_->Submit("name: urgent\npriority: 10\n" + blocker);
  ASSERT_TRUE(LocalCluster::WaitFor([&] { return World(id) == 1; }, 30)) << Explain(id);
  ASSERT_TRUE(cluster_->WaitState(id, "SUCCEEDED", 60)) << Explain(id);
  EXPECT_EQ(cluster_->Call("POST", "/api/v1/jobs/" + std::to_string(second) + "/cancel", "{}").status, 200);
  EXPECT_LT(grown_at, 40) << "the job grew too late to train on 2 workers mid-epoch";

  // Every sample of the epoch once, counting all workers' records.
  std::map<int64_t, int> uses;
  std::set<int> worlds;
  for (const auto& f : std::filesystem::directory_iterator(samples)) {
    std::ifstream in(f.path());
    std::string line;
    while (std::getline(in, line)) {
      std::istringstream fields(line);
      int64_t step, epoch, index;
      int world;
      fields >> step >> epoch >> world;
      worlds.insert(world);
      while (fields >> index) ++uses[index];
    }
  }
  EXPECT_EQ(worlds, (std::set<int>{1, 2}));
  ASSERT_EQ(uses.size(), 3200u);
  for (const auto& [index, n] : uses) ASSERT_EQ(n, 1) << "sample " << index << " used " << n << " times";

  // The same epoch on a static group of 2, by hand.
  ASSERT_TRUE(RunStatic(2, {"--train-limit", "3200", "--global-batch", "64", "--epochs", "1", "--save-params", fixed},
                        dir_ + "/static"));
  const double diff = MaxDiff(ReadFloats(elastic), ReadFloats(fixed));
  std::printf("1->2->1 vs static 2 workers, one epoch (50 steps): max |parameter difference| = %.3g\n", diff);
  EXPECT_LT(diff, 1e-5);
}

}  // namespace
}  // namespace drover::e2e

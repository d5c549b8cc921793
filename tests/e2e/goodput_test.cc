// End-to-end: the server learns each job's speed from what its workers post
// (perf: step and compute time, gradient norms) and the scheduler follows it.
// The workers here are `sleep`s; the test posts their measurements itself (as
// an admin may), so that the two jobs' speedups are known exactly: the
// runtime's own posts are covered by the elastic training test.
#include <gtest/gtest.h>

#include <atomic>
#include <csignal>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "tests/e2e/cluster.h"

namespace drover::e2e {
namespace {

using json = nlohmann::json;

const char* kPlan = R"(consumers:
  - name: lab
    owned: 4
)";

class GoodputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    cluster_ = std::make_unique<LocalCluster>(DROVER_BINARY, ::testing::TempDir() + "/drover-goodput-" + name);
    ASSERT_TRUE(cluster_->Start(2, 2)) << "see " << cluster_->dir() << "/*.log";
    ASSERT_EQ(cluster_->Call("PUT", "/api/v1/plan", kPlan).status, 200);
  }
  void TearDown() override {
    StopPosting();
    std::string dir = cluster_ ? cluster_->dir() : "";
    cluster_.reset();
    if (!HasFailure() && !dir.empty()) std::filesystem::remove_all(dir);
  }

  json Get(uint64_t id) { return cluster_->Call("GET", "/api/v1/jobs/" + std::to_string(id)).json; }
  int World(uint64_t id) {
    const json j = Get(id);
    return j.contains("world_size") && j["world_size"].is_number() ? j["world_size"].get<int>() : -1;
  }

  // What rank 0 of job `id` measures on `world` workers at a global batch of
  // `global`: compute is 4 ms + 2 ms per local sample; sync `sync_s` beyond one worker.
  void Post(uint64_t id, double sync_s, double global = 64, std::optional<double> samples_left = {}) {
    const json j = Get(id);
    if (!j.contains("worker_list")) return;
    for (const json& w : j["worker_list"]) {
      if (w["rank"] != 0 || w["state"] == "EXITED") continue;
      const int world = static_cast<int>(j["world_size"].get<int>());
      const double local = global / world, compute = 0.004 + 0.002 * local;
      json body = {{"generation", w["generation"]},
                   {"world_size", world},
                   {"perf", {{"steps", 20}, {"global_batch", global}, {"local_batch", local},
                             {"step_s", compute + (world > 1 ? sync_s : 0)}, {"compute_s", compute}}}};
      if (samples_left) {
        body["samples_left"] = *samples_left;
        body["step"] = 10;
      }
      cluster_->Call("POST", "/api/v1/jobs/" + std::to_string(id) + "/workers/0/status", body.dump());
    }
  }
  // Runs `posts` every 200 ms until StopPosting, as running workers would post.
  void StartPosting(std::function<void()> posts) {
    poster_ = std::thread([this, posts = std::move(posts)] {
      while (!stop_) {
        posts();
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
      }
    });
  }
  void StartPosting(uint64_t scales, uint64_t syncs) {
    StartPosting([this, scales, syncs] {
      Post(scales, 0.0);
      Post(syncs, 0.3);
    });
  }
  void StopPosting() {
    stop_ = true;
    if (poster_.joinable()) poster_.join();
  }
  bool SetMax(uint64_t id, int max) {
    return cluster_->Call("PATCH", "/api/v1/jobs/" + std::to_string(id),
                          json{{"workers", {{"min", 1}, {"max", max}}}}.dump())
               .status == 200;
  }

  std::unique_ptr<LocalCluster> cluster_;
  std::thread poster_;
  std::atomic<bool> stop_{false};
};

TEST_F(GoodputTest, TheJobThatScalesBetterGetsTheSlotsAndARestartKeepsWhatWasLearned) {
  const std::string job = "consumer: /lab\nworkers: {min: 1, max: 3}\nresources: {gpus: 1, cpus: 0.1, memory: 64Mi}\n"
                          "command: [\"sleep\", \"600\"]\n";
  // `syncs` comes first and, with nothing measured (linear assumed), grows to
  // 3 of the 4 slots and keeps them: the control.
  const uint64_t syncs = cluster_->Submit("name: syncs\n" + job);
  ASSERT_NE(syncs, 0u);
  ASSERT_TRUE(LocalCluster::WaitFor([&] { return World(syncs) == 3; }, 20)) << Get(syncs).dump();
  const uint64_t scales = cluster_->Submit("name: scales\n" + job);
  ASSERT_NE(scales, 0u);
  ASSERT_TRUE(LocalCluster::WaitFor([&] { return World(scales) == 1; }, 20)) << Get(scales).dump();
  EXPECT_TRUE(Get(scales)["profile"].is_null()) << "no profile before any measurement";
  EXPECT_EQ(World(syncs), 3);

  // Measured: `syncs` waits 300 ms for every all-reduce, so on more workers
  // it is slower than on one; `scales` does not wait. The slots move.
  StartPosting(scales, syncs);
  ASSERT_TRUE(LocalCluster::WaitFor([&] { return World(scales) == 3 && World(syncs) == 1; }, 40))
      << Get(scales).dump() << "\n" << Get(syncs).dump();
  ASSERT_TRUE(LocalCluster::WaitFor([&] { return Get(scales)["profile"]["points"] >= 2; }, 10));
  const json profile = Get(scales)["profile"];
  std::printf("learned profile of 'scales': %s\n", profile["by_size"].dump().c_str());
  std::printf("learned profile of 'syncs':  %s\n", Get(syncs)["profile"]["by_size"].dump().c_str());
  // Its own measurement on 3 workers: 64 samples in 4 + 2 * 21.3 ms.
  const json& three = profile["by_size"][2];
  EXPECT_EQ(three["workers"], 3);
  const double measured = 64 / (0.004 + 0.002 * 64 / 3.0);
  EXPECT_NEAR(three["samples_per_s"].get<double>(), measured, 0.05 * measured);
  const json syncs_three = Get(syncs)["profile"]["by_size"][2];
  EXPECT_LT(syncs_three["speedup"].get<double>(), 1.0) << "three workers of 'syncs' are slower than one";
  // `drover job` shows the table a user reads.
  const std::string shown = cluster_->Cli("job " + std::to_string(syncs));
  const size_t table = shown.find("Learned profile");
  ASSERT_NE(table, std::string::npos) << shown;
  std::printf("%s\n", shown.substr(table, shown.find("Events:") - table).c_str());
  EXPECT_NE(shown.find("measured"), std::string::npos) << shown;

  // A restart: the profiles come back from the store. Linear profiles would
  // split the slots 2/2 again within a scheduling cycle or two.
  StopPosting();
  cluster_->KillServer(SIGKILL);
  ASSERT_TRUE(cluster_->StartServer());
  const json after = Get(scales)["profile"];
  ASSERT_TRUE(after.is_object()) << Get(scales).dump();
  EXPECT_EQ(after["points"], profile["points"]);
  // The same stored points fit the same (up to where the search stops, and
  // posts that came in after `profile` was read).
  ASSERT_EQ(after["by_size"].size(), profile["by_size"].size());
  for (size_t k = 0; k < after["by_size"].size(); ++k) {
    const double was = profile["by_size"][k]["samples_per_s"], is = after["by_size"][k]["samples_per_s"];
    EXPECT_NEAR(is, was, 0.01 * was) << k + 1 << " workers";
  }
  stop_ = false;
  StartPosting(scales, syncs);
  // Several scheduling cycles (one a second) pass; nothing moves back.
  EXPECT_FALSE(LocalCluster::WaitFor([&] { return World(scales) != 3 || World(syncs) != 1; }, 4))
      << Get(scales).dump() << "\n" << Get(syncs).dump();
}

// Two jobs alike in speed, two slots each: once one has far less left to
// train (as its workers post it), it takes a slot from the other, as
// shortest-remaining-first would. The control: with as much left as the
// other, neither moves.
TEST_F(GoodputTest, OfTwoJobsAlikeTheOneWithLessLeftTakesASlot) {
  const std::string job = "consumer: /lab\nworkers: {min: 1, max: 2}\nresources: {gpus: 1, cpus: 0.1, memory: 64Mi}\n"
                          "command: [\"sleep\", \"600\"]\n";
  const uint64_t a = cluster_->Submit("name: a\n" + job);
  const uint64_t b = cluster_->Submit("name: b\n" + job);
  ASSERT_NE(a, 0u);
  ASSERT_NE(b, 0u);
  std::atomic<double> a_left{1e7};
  StartPosting([&] {
    Post(a, 0.0, 64, a_left.load());
    Post(b, 0.0, 64, 1e7);
  });
  ASSERT_TRUE(LocalCluster::WaitFor([&] { return World(a) == 2 && World(b) == 2; }, 30))
      << Get(a).dump() << "\n" << Get(b).dump();
  ASSERT_TRUE(LocalCluster::WaitFor(
      [&] { return Get(a)["profile"]["time_left_s"].is_number() && Get(b)["profile"]["time_left_s"].is_number(); },
      10))
      << Get(a).dump() << "\n" << Get(b).dump();
  EXPECT_EQ(Get(b)["samples_left"], 1e7);
  ASSERT_TRUE(SetMax(a, 3));
  ASSERT_TRUE(SetMax(b, 3));
  // The control: several scheduling cycles (one a second), nothing moves.
  EXPECT_FALSE(LocalCluster::WaitFor([&] { return World(a) != 2 || World(b) != 2; }, 4))
      << Get(a).dump() << "\n" << Get(b).dump();

  a_left = 1e4;
  ASSERT_TRUE(LocalCluster::WaitFor([&] { return World(a) == 3 && World(b) == 1; }, 30))
      << Get(a).dump() << "\n" << Get(b).dump();
  // `drover job` says how long is left, by the profile.
  const std::string shown = cluster_->Cli("job " + std::to_string(a));
  EXPECT_NE(shown.find("10000 samples left"), std::string::npos) << shown;
  EXPECT_NE(shown.find("left at its 3 workers now, by this profile"), std::string::npos) << shown;
  std::printf("%s\n", shown.substr(0, shown.find("Events:")).c_str());
}

// A job that ran the same command in the same consumer before, and was
// measured on 2 to 4 workers (slow to sync: 300 ms), is where the next run's
// fit starts: after its first post, on one worker, the new run's fit already
// holds that sync across hosts, and says which job it started from. The
// controls: a run of another command, and a run of the same command in
// another consumer, start from nothing: no sync seen, none assumed. A
// restart keeps where the run started from.
TEST_F(GoodputTest, ASecondRunOfTheSameCommandStartsFromTheFirstsFit) {
  ASSERT_EQ(cluster_->Call("PUT", "/api/v1/plan", std::string(kPlan) + "  - name: other\n    owned: 0\n").status, 200);
  auto spec = [](const std::string& name, const std::string& consumer, const std::string& seconds, int max) {
    return "name: " + name + "\nconsumer: " + consumer + "\nworkers: {min: 1, max: " + std::to_string(max) +
           "}\nresources: {gpus: 1, cpus: 0.1, memory: 64Mi}\ncommand: [\"sleep\", \"" + seconds + "\"]\n";
  };
  const uint64_t first = cluster_->Submit(spec("first", "/lab", "600", 2));
  ASSERT_NE(first, 0u);
  for (int k = 2; k <= 4; ++k) {
    ASSERT_TRUE(SetMax(first, k));
    ASSERT_TRUE(LocalCluster::WaitFor([&] { return World(first) == k; }, 20)) << k << ": " << Get(first).dump();
    for (double global : {64.0, 96.0}) Post(first, 0.3, global);  // two points per size
    ASSERT_TRUE(LocalCluster::WaitFor([&] { return Get(first)["profile"]["points"] == 2 * (k - 1); }, 10))
        << Get(first).dump();
  }
  EXPECT_TRUE(Get(first)["profile"]["prior_from_job"].is_null());
  ASSERT_EQ(cluster_->Call("POST", "/api/v1/jobs/" + std::to_string(first) + "/cancel").status, 200);

  // Three one-worker jobs, each posting once: one step on one worker.
  const uint64_t again = cluster_->Submit(spec("again", "/lab", "600", 1));
  const uint64_t other_command = cluster_->Submit(spec("other-command", "/lab", "601", 1));
  const uint64_t other_consumer = cluster_->Submit(spec("other-consumer", "/other", "600", 1));
  for (uint64_t id : {again, other_command, other_consumer}) {
    ASSERT_NE(id, 0u);
    ASSERT_TRUE(LocalCluster::WaitFor([&] { return World(id) == 1; }, 20)) << Get(id).dump();
    Post(id, 0.3);
    ASSERT_TRUE(LocalCluster::WaitFor([&] { return Get(id)["profile"].is_object(); }, 10)) << Get(id).dump();
  }
  // Sync across hosts as the fit has it (the scheduler's profile beyond one host follows from it).
  auto node_sync = [&](uint64_t id) {
    const json fit = Get(id)["profile"]["fit"];
    return fit["a_node"].get<double>() + fit["b_node"].get<double>();
  };
  EXPECT_EQ(Get(again)["profile"]["prior_from_job"], first);
  EXPECT_NEAR(node_sync(again), 0.3, 0.1) << "the first run's sync, before this one synced at all";
  for (uint64_t id : {other_command, other_consumer}) {
    EXPECT_TRUE(Get(id)["profile"]["prior_from_job"].is_null()) << id;
    EXPECT_LT(node_sync(id), 0.01) << id << ": the control, from nothing, assumes no sync";
  }
  const std::string shown = cluster_->Cli("job " + std::to_string(again));
  EXPECT_NE(shown.find("Started from the fit of job " + std::to_string(first)), std::string::npos) << shown;

  const double before = node_sync(again);
  cluster_->KillServer(SIGKILL);
  ASSERT_TRUE(cluster_->StartServer());
  ASSERT_TRUE(Get(again)["profile"].is_object()) << Get(again).dump();
  EXPECT_EQ(Get(again)["profile"]["prior_from_job"], first);
  EXPECT_NEAR(node_sync(again), before, 0.05 * before);
}

}  // namespace
}  // namespace drover::e2e

// End-to-end: a real server and two agents (4 GPU slots each) on localhost,
// running small shell programs as workers.
#include <signal.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>

#include <gtest/gtest.h>

#include "tests/e2e/cluster.h"

namespace drover::e2e {
namespace {

using json = nlohmann::json;

// Small workers: the test hosts declare 4 GPU slots but have few CPUs.
const std::string kRes = "resources: {gpus: 1, cpus: 0.1, memory: 64Mi}\n";

const char* kPlan = R"(consumers:
  - name: teams
    owned: 8
    children:
      - name: alpha
        owned: 4
        reclaim_grace: 2
      - name: beta
        owned: 4
        reclaim_grace: 2
)";

class ClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    cluster_ = std::make_unique<LocalCluster>(DROVER_BINARY, ::testing::TempDir() + "/drover-e2e-" + name);
    ASSERT_TRUE(cluster_->Start(2, 4)) << "see " << cluster_->dir() << "/*.log";
    ASSERT_EQ(cluster_->Call("PUT", "/api/v1/plan", kPlan).status, 200);
  }

  void TearDown() override {
    // Keep the logs of a failed test; leave nothing behind otherwise.
    std::string dir = cluster_ ? cluster_->dir() : "";
    cluster_.reset();
    if (!HasFailure() && !dir.empty()) std::filesystem::remove_all(dir);
  }

  std::set<int> Pids(uint64_t id) {
    std::set<int> pids;
    HttpReply r = cluster_->Call("GET", "/api/v1/jobs/" + std::to_string(id));
    for (const json& w : r.json["worker_list"]) pids.insert(w["pid"].get<int>());
    return pids;
  }

  int WorldSize(uint64_t id) {
    return cluster_->Call("GET", "/api/v1/jobs/" + std::to_string(id)).json.value("world_size", -1);
  }

  bool AllReported(uint64_t id, size_t n) {
    std::set<int> p = Pids(id);
    return p.size() == n && !p.count(0);
  }

  std::unique_ptr<LocalCluster> cluster_;
};

TEST_F(ClusterTest, RigidJobRunsOnAllWorkersAndItsLogsArrive) {
  uint64_t id = cluster_->Submit(
      "name: hello\nconsumer: /teams/alpha\nworkers: 6\n" + kRes +
      "command: [\"/bin/sh\", \"-c\", \"echo rank $RANK of $WORLD_SIZE gpus $CUDA_VISIBLE_DEVICES\"]\n");
  ASSERT_NE(id, 0u);
  ASSERT_TRUE(cluster_->WaitState(id, "SUCCEEDED", 20)) << cluster_->JobState(id);
  // 6 workers of 1 GPU on two 4-GPU hosts: placement spans both.
  ASSERT_TRUE(LocalCluster::WaitFor([&] {
    return cluster_->Call("GET", "/api/v1/jobs/" + std::to_string(id) + "/logs?worker=5").body.find("rank 5 of 6") !=
           std::string::npos;
  }, 10));
  HttpReply events = cluster_->Call("GET", "/api/v1/jobs/" + std::to_string(id));
  std::string all = events.json["events"].dump();
  EXPECT_NE(all.find("started on 6 workers"), std::string::npos) << all;
}

TEST_F(ClusterTest, CancelStopsTheWorkers) {
  uint64_t id = cluster_->Submit(kRes + "name: sleeper\nconsumer: /teams/alpha\nworkers: 2\ncommand: [\"sleep\", \"300\"]\n");
  ASSERT_TRUE(cluster_->WaitState(id, "RUNNING", 15));
  ASSERT_TRUE(LocalCluster::WaitFor([&] { return AllReported(id, 2); }, 10));
  std::set<int> pids = Pids(id);
  EXPECT_EQ(cluster_->Call("POST", "/api/v1/jobs/" + std::to_string(id) + "/cancel", "{}").status, 200);
  EXPECT_EQ(cluster_->JobState(id), "CANCELLED");
  EXPECT_TRUE(LocalCluster::WaitFor([&] {
    for (int p : pids) {
      if (Alive(p)) return false;
    }
    return true;
  }, 15));
}

TEST_F(ClusterTest, ElasticJobShrinksForTheOtherTeamAndGrowsBack) {
  std::string spec = kRes + "workers: {min: 1, max: 8}\ncommand: [\"sleep\", \"300\"]\n";
  uint64_t a = cluster_->Submit("name: a\nconsumer: /teams/alpha\n" + spec);
  ASSERT_TRUE(LocalCluster::WaitFor([&] { return AllReported(a, 8); }, 20)) << WorldSize(a);
  std::set<int> before = Pids(a);
  HttpReply m0 = cluster_->Call("GET", "/api/v1/jobs/" + std::to_string(a) + "/members");
  ASSERT_EQ(m0.status, 200);
  ASSERT_EQ(m0.json["members"].size(), 8u);
  int64_t g0 = m0.json["generation"];
  uint64_t b = cluster_->Submit("name: b\nconsumer: /teams/beta\n" + spec);
  // A worker waiting on its membership wakes when the job shrinks.
  HttpReply m1 = cluster_->Call("GET", "/api/v1/jobs/" + std::to_string(a) + "/members?after=" +
                                           std::to_string(g0) + "&wait_ms=8000");
  ASSERT_EQ(m1.status, 200);
  EXPECT_GT(m1.json["generation"].get<int64_t>(), g0);
  EXPECT_EQ(m1.json["members"].size(), 4u);
  // Beta owns half: alpha's job shrinks to 4 and keeps 4 of its processes.
  ASSERT_TRUE(LocalCluster::WaitFor([&] { return WorldSize(a) == 4 && AllReported(b, 4); }, 20))
      << WorldSize(a) << " " << WorldSize(b);
  std::set<int> after = Pids(a);
  for (int p : after) EXPECT_TRUE(before.count(p)) << "worker " << p << " is new: the job was restarted";
  EXPECT_EQ(cluster_->Call("POST", "/api/v1/jobs/" + std::to_string(b) + "/cancel", "{}").status, 200);
  ASSERT_TRUE(LocalCluster::WaitFor([&] { return AllReported(a, 8); }, 20)) << WorldSize(a);
  HttpReply r = cluster_->Call("GET", "/api/v1/jobs/" + std::to_string(a));
  ASSERT_GE(r.json["rescales"].size(), 2u);
}

TEST_F(ClusterTest, RigidWorkReclaimedAfterGrace) {
  // Alpha borrows all 8 GPUs with two rigid 4-worker jobs; beta then claims what it owns.
  std::string spec = kRes + "workers: 4\ncommand: [\"sleep\", \"300\"]\n";
  uint64_t a1 = cluster_->Submit("name: a1\nconsumer: /teams/alpha\n" + spec);
  uint64_t a2 = cluster_->Submit("name: a2\nconsumer: /teams/alpha\n" + spec);
  ASSERT_TRUE(cluster_->WaitState(a1, "RUNNING", 15));
  ASSERT_TRUE(cluster_->WaitState(a2, "RUNNING", 15));
  uint64_t b = cluster_->Submit("name: b\nconsumer: /teams/beta\n" + spec);
  ASSERT_TRUE(cluster_->WaitState(b, "RUNNING", 20)) << cluster_->JobState(b);
  // One of alpha's jobs went back to the queue; the other kept running.
  std::string s1 = cluster_->JobState(a1), s2 = cluster_->JobState(a2);
  EXPECT_TRUE((s1 == "RUNNING") != (s2 == "RUNNING")) << s1 << " " << s2;
  EXPECT_TRUE(s1 == "PREEMPTED" || s2 == "PREEMPTED") << s1 << " " << s2;
}

TEST_F(ClusterTest, ServerKilledAndRestartedAdoptsRunningWorkers) {
  uint64_t done = cluster_->Submit(kRes + "name: quick\nconsumer: /teams/alpha\ncommand: [\"true\"]\n");
  ASSERT_TRUE(cluster_->WaitState(done, "SUCCEEDED", 15));
  uint64_t id = cluster_->Submit(kRes + "name: long\nconsumer: /teams/beta\nworkers: 3\ncommand: [\"sleep\", \"300\"]\n");
  ASSERT_TRUE(LocalCluster::WaitFor([&] { return AllReported(id, 3); }, 15));
  std::set<int> pids = Pids(id);
  uint64_t pending = cluster_->Submit(kRes + "name: waits\nconsumer: /teams/alpha\nworkers: 8\ncommand: [\"true\"]\n");
  ASSERT_NE(pending, 0u);

  cluster_->KillServer(SIGKILL);
  for (int p : pids) EXPECT_TRUE(Alive(p)) << "worker " << p << " died with the server";
  ASSERT_TRUE(cluster_->StartServer());

  EXPECT_EQ(cluster_->JobState(done), "SUCCEEDED");
  EXPECT_NE(cluster_->JobState(pending), "");
  ASSERT_TRUE(LocalCluster::WaitFor([&] { return cluster_->JobState(id) == "RUNNING" && AllReported(id, 3); }, 15));
  EXPECT_EQ(Pids(id), pids) << "workers were restarted instead of adopted";
  uint64_t after = cluster_->Submit(kRes + "name: after\nconsumer: /teams/alpha\ncommand: [\"true\"]\n");
  EXPECT_GT(after, pending);
}

TEST_F(ClusterTest, KilledAgentsHostGoesDownAndItsRigidJobRunsElsewhere) {
  uint64_t id = cluster_->Submit(kRes + "name: r\nconsumer: /teams/alpha\nworkers: 4\nmax_restarts: 0\n"
                                         "command: [\"/bin/sh\", \"-c\", \"echo up; sleep 300\"]\n");
  ASSERT_TRUE(LocalCluster::WaitFor([&] { return AllReported(id, 4); }, 15));
  std::string host = cluster_->Call("GET", "/api/v1/jobs/" + std::to_string(id)).json["worker_list"][0]["host"];
  std::set<int> pids = Pids(id);
  auto t0 = std::chrono::steady_clock::now();
  cluster_->KillAgent(host, SIGKILL);
  // Heartbeat timeout 3 s, plus at most one long-poll (1 s) and one scheduling tick (1 s).
  ASSERT_TRUE(LocalCluster::WaitFor([&] {
    HttpReply r = cluster_->Call("GET", "/api/v1/hosts");  // named: the loop must not outlive it
    for (const json& h : r.json["hosts"]) {
      if (h["name"] == host) return h["state"] == "down";
    }
    return false;
  }, 10)) << cluster_->Call("GET", "/api/v1/hosts").body;
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("host marked down %.2f s after its agent was killed\n", seconds);
  EXPECT_LT(seconds, 5.5);
  for (int p : pids) EXPECT_TRUE(LocalCluster::WaitFor([&] { return !Alive(p); }, 5)) << "orphan worker " << p;
  // Requeued and started again on the other host.
  ASSERT_TRUE(LocalCluster::WaitFor([&] {
    HttpReply r = cluster_->Call("GET", "/api/v1/jobs/" + std::to_string(id));
    return r.json["state"] == "RUNNING" && r.json["worker_list"].size() == 4 &&
           r.json["worker_list"][0]["host"] != host;
  }, 15));
  // Rank 0's log holds the output of both runs, the second host's appended after the first's.
  EXPECT_TRUE(LocalCluster::WaitFor([&] {
    return cluster_->Call("GET", "/api/v1/jobs/" + std::to_string(id) + "/logs?worker=0").body == "up\nup\n";
  }, 10)) << cluster_->Call("GET", "/api/v1/jobs/" + std::to_string(id) + "/logs?worker=0").body;
}

TEST_F(ClusterTest, UnauthorisedAndCrossTenantRequestsAreRefused) {
  EXPECT_EQ(cluster_->Call("GET", "/api/v1/jobs", "", "none").status, 401);
  EXPECT_EQ(cluster_->Call("GET", "/api/v1/jobs", "", "drv_u_forged").status, 401);
  EXPECT_EQ(cluster_->Call("GET", "/healthz", "", "none").status, 200);
  HttpReply alice = cluster_->Call("POST", "/api/v1/users", R"({"name":"alice","consumers":["/teams/alpha"]})");
  HttpReply bob = cluster_->Call("POST", "/api/v1/users", R"({"name":"bob","consumers":["/teams/beta"]})");
  ASSERT_EQ(alice.status, 201);
  ASSERT_EQ(bob.status, 201);
  std::string at = alice.json["token"], bt = bob.json["token"];
  uint64_t id = cluster_->Submit("name: mine\nconsumer: /teams/alpha\ncommand: [\"sleep\", \"30\"]\n", at);
  ASSERT_NE(id, 0u);
  EXPECT_EQ(cluster_->Call("GET", "/api/v1/jobs/" + std::to_string(id), "", bt).status, 404);
  EXPECT_EQ(cluster_->Call("POST", "/api/v1/jobs/" + std::to_string(id) + "/cancel", "{}", bt).status, 404);
  EXPECT_EQ(cluster_->Call("GET", "/api/v1/jobs", "", bt).json["jobs"].size(), 0u);
  EXPECT_EQ(cluster_->Call("POST", "/api/v1/jobs", "name: x\nconsumer: /teams/alpha\ncommand: [\"true\"]\n", bt).status, 403);
  EXPECT_EQ(cluster_->Call("PUT", "/api/v1/plan", kPlan, at).status, 403);
  EXPECT_EQ(cluster_->Call("POST", "/api/v1/agent/sync", "{}", at).status, 403);
  EXPECT_EQ(cluster_->Call("GET", "/api/v1/jobs", "", cluster_->join_token()).status, 403);
  // Bad input: clear errors, nothing changes.
  HttpReply bad = cluster_->Call("POST", "/api/v1/jobs", "name: x\nconsumer: /teams/alpha\nworkers: {min: 0}\n");
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.json["error"].get<std::string>().find("workers.min"), std::string::npos) << bad.body;
  EXPECT_EQ(cluster_->Call("POST", "/api/v1/jobs", "name: x\nconsumer: /nope\ncommand: [\"true\"]\n").status, 404);
  HttpReply huge = cluster_->Call("POST", "/api/v1/jobs", std::string(2 << 20, 'x'));
  EXPECT_EQ(huge.status, 413);
  HttpReply never = cluster_->Call("POST", "/api/v1/jobs",
                                   "name: x\nconsumer: /teams/alpha\nresources: {gpus: 16}\ncommand: [\"true\"]\n");
  EXPECT_EQ(never.status, 400);
  EXPECT_NE(never.body.find("no host can hold"), std::string::npos) << never.body;
  EXPECT_EQ(cluster_->Call("GET", "/api/v1/jobs", "", at).json["jobs"].size(), 1u);
  // A revoked token stops working at once; others cannot revoke it.
  HttpReply second = cluster_->Call("POST", "/api/v1/tokens", "{}", at);
  ASSERT_EQ(second.status, 201);
  std::string t2 = second.json["token"];
  EXPECT_EQ(cluster_->Call("POST", "/api/v1/tokens/revoke", json{{"token", t2}}.dump(), bt).status, 404);
  EXPECT_EQ(cluster_->Call("GET", "/api/v1/jobs", "", t2).status, 200);
  EXPECT_EQ(cluster_->Call("POST", "/api/v1/tokens/revoke", json{{"token", t2}}.dump(), at).status, 200);
  EXPECT_EQ(cluster_->Call("GET", "/api/v1/jobs", "", t2).status, 401);
  EXPECT_EQ(cluster_->Call("GET", "/api/v1/jobs", "", at).status, 200);
}

TEST(TlsClusterTest, ServesHttpsToAgentsAndClients) {
  std::string dir = ::testing::TempDir() + "/drover-e2e-tls";
  LocalCluster cluster(DROVER_BINARY, dir);
  std::string cert = dir + "/cert.pem", key = dir + "/key.pem";
  std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 -keyout " + key +
                    " -out " + cert + " >/dev/null 2>&1";
  if (std::system(cmd.c_str()) != 0) GTEST_SKIP() << "openssl could not make a test certificate";
  cluster.EnableTls(cert, key);
  ASSERT_TRUE(cluster.Start(1, 4)) << "see " << dir << "/*.log";
  ASSERT_EQ(cluster.url().rfind("https://", 0), 0u);
  uint64_t id = cluster.Submit(kRes + "name: tls\ncommand: [\"true\"]\n");
  ASSERT_NE(id, 0u);
  EXPECT_TRUE(cluster.WaitState(id, "SUCCEEDED", 15)) << cluster.JobState(id);
  if (!HasFailure()) std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace drover::e2e

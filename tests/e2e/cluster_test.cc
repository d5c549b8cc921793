// End-to-end: a real server and two agents (4 GPU slots each) on localhost,
// running small shell programs as workers.
#include <sys/socket.h>
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "tests/e2e/abuse.h"
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
    cluster_->AddServerArgs(server_args_);
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

  // Alpha borrows all 8 GPUs with two rigid 4-worker jobs; then beta submits
  // one it owns GPUs for. Returns beta's job, or 0 (a failure) if alpha's did not run.
  uint64_t AlphaBorrowsAllThenBetaClaims() {
    std::string spec = kRes + "workers: 4\ncommand: [\"sleep\", \"300\"]\n";
    alpha_ = {cluster_->Submit("name: a1\nconsumer: /teams/alpha\n" + spec),
              cluster_->Submit("name: a2\nconsumer: /teams/alpha\n" + spec)};
    for (uint64_t a : alpha_) {
      if (!cluster_->WaitState(a, "RUNNING", 15)) {
        ADD_FAILURE() << "alpha's job " << a << " is " << cluster_->JobState(a);
        return 0;
      }
    }
    return cluster_->Submit("name: b\nconsumer: /teams/beta\n" + spec);
  }

  // Seconds from a job's submission to its start.
  double StartDelay(uint64_t id) {
    HttpReply r = cluster_->Call("GET", "/api/v1/jobs/" + std::to_string(id));
    return r.json["start_time"].get<double>() - r.json["submit_time"].get<double>();
  }

  bool AllReported(uint64_t id, size_t n) {
    std::set<int> p = Pids(id);
    return p.size() == n && !p.count(0);
  }

  std::unique_ptr<LocalCluster> cluster_;
  std::vector<std::string> server_args_;
  std::vector<uint64_t> alpha_;  // AlphaBorrowsAllThenBetaClaims' jobs
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
  // The workers really spread over both hosts, each with a GPU of its own on
  // its host, and each saw that GPU as CUDA_VISIBLE_DEVICES.
  std::map<std::string, std::set<std::string>> devices;  // host -> CUDA_VISIBLE_DEVICES seen there
  std::map<int, std::string> host_of;
  for (const auto& e : events.json["events"]) {
    std::string m = e["message"];
    // "worker R on HOST exited with 0"
    if (m.rfind("worker ", 0) == 0 && m.find(" exited with 0") != std::string::npos) {
      int rank = std::atoi(m.c_str() + 7);
      host_of[rank] = m.substr(m.find(" on ") + 4, m.find(" exited") - m.find(" on ") - 4);
    }
  }
  ASSERT_EQ(host_of.size(), 6u) << all;
  for (const auto& [rank, host] : host_of) {
    std::string log = cluster_->Call("GET", "/api/v1/jobs/" + std::to_string(id) + "/logs?worker=" +
                                                std::to_string(rank)).body;
    std::string dev = log.substr(log.find("gpus ") + 5);
    dev = dev.substr(0, dev.find('\n'));
    EXPECT_FALSE(dev.empty()) << "worker " << rank << ": " << log;
    EXPECT_TRUE(devices[host].insert(dev).second) << "worker " << rank << " on " << host << " shares GPU " << dev;
  }
  EXPECT_EQ(devices.size(), 2u) << "the 6 workers did not spread over both hosts";
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
  uint64_t b = AlphaBorrowsAllThenBetaClaims();
  ASSERT_NE(b, 0u);
  ASSERT_TRUE(cluster_->WaitState(b, "RUNNING", 20)) << cluster_->JobState(b);
  const uint64_t a1 = alpha_[0], a2 = alpha_[1];
  // Not before beta's grace period (2 s) had passed since it was owed the GPUs.
  const double waited = StartDelay(b);
  std::printf("beta's job started %.2f s after it was submitted (grace 2 s)\n", waited);
  EXPECT_GE(waited, 2.0);
  // One of alpha's jobs went back to the queue; the other kept running.
  std::string s1 = cluster_->JobState(a1), s2 = cluster_->JobState(a2);
  EXPECT_TRUE((s1 == "RUNNING") != (s2 == "RUNNING")) << s1 << " " << s2;
  EXPECT_TRUE(s1 == "PREEMPTED" || s2 == "PREEMPTED") << s1 << " " << s2;
}

// Every worker of these jobs has its own GPU: set, and no (host, GPU) twice.
::testing::AssertionResult EachWorkerHasItsOwnGpu(LocalCluster& cluster, const std::vector<uint64_t>& jobs) {
  std::set<std::pair<std::string, int>> used;
  for (uint64_t id : jobs) {
    HttpReply r = cluster.Call("GET", "/api/v1/jobs/" + std::to_string(id));
    for (const json& w : r.json["worker_list"]) {
      if (w["gpus"].size() != 1) return ::testing::AssertionFailure() << "job " << id << ": " << w.dump();
      if (!used.insert({w["host"], w["gpus"][0].get<int>()}).second) {
        return ::testing::AssertionFailure() << "job " << id << " shares a GPU: " << w.dump();
      }
    }
  }
  return ::testing::AssertionSuccess();
}

// A reclaimed job, rigid or elastic, is preempted and later starts again; its
// workers get their GPUs like new ones (a new user saw `"gpus": []` and an
// empty CUDA_VISIBLE_DEVICES here).
TEST_F(ClusterTest, PreemptedJobsRestartWithTheirDevices) {
  const std::string cmd = "command: [\"/bin/sh\", \"-c\", \"echo gpus=$CUDA_VISIBLE_DEVICES; sleep 300\"]\n";
  const std::string rigid = kRes + "workers: 4\n" + cmd, elastic = kRes + "workers: {min: 3, max: 4}\n" + cmd;
  for (bool rigid_first : {true, false}) {
    SCOPED_TRACE(rigid_first ? "rigid job first" : "elastic job first");
    uint64_t a1 = cluster_->Submit("name: a1\nconsumer: /teams/alpha\n" + (rigid_first ? rigid : elastic));
    uint64_t a2 = cluster_->Submit("name: a2\nconsumer: /teams/alpha\n" + (rigid_first ? elastic : rigid));
    ASSERT_TRUE(LocalCluster::WaitFor([&] { return AllReported(a1, 4) && AllReported(a2, 4); }, 20));
    EXPECT_TRUE(EachWorkerHasItsOwnGpu(*cluster_, {a1, a2}));
    uint64_t b = cluster_->Submit("name: b\nconsumer: /teams/beta\n" + rigid);
    ASSERT_TRUE(cluster_->WaitState(b, "RUNNING", 20)) << cluster_->JobState(b);
    std::string preempted = cluster_->JobState(a1) == "PREEMPTED" ? "a1" : "a2";
    uint64_t victim = preempted == "a1" ? a1 : a2;
    ASSERT_EQ(cluster_->JobState(victim), "PREEMPTED");
    std::printf("%s: the %s job was preempted\n", rigid_first ? "rigid first" : "elastic first",
                (preempted == "a1") == rigid_first ? "rigid" : "elastic");
    EXPECT_TRUE(EachWorkerHasItsOwnGpu(*cluster_, {a1, a2, b}));
    ASSERT_EQ(cluster_->Call("POST", "/api/v1/jobs/" + std::to_string(b) + "/cancel", "{}").status, 200);
    ASSERT_TRUE(LocalCluster::WaitFor([&] { return AllReported(a1, 4) && AllReported(a2, 4); }, 20))
        << cluster_->JobState(victim);
    EXPECT_TRUE(EachWorkerHasItsOwnGpu(*cluster_, {a1, a2}));
    // What the restarted workers saw: CUDA_VISIBLE_DEVICES set, as their GPU.
    HttpReply r = cluster_->Call("GET", "/api/v1/jobs/" + std::to_string(victim));
    for (const json& w : r.json["worker_list"]) {
      std::string want = "gpus=" + std::to_string(w["gpus"][0].get<int>()) + "\n";
      std::string path = "/api/v1/jobs/" + std::to_string(victim) + "/logs?worker=" + std::to_string(w["rank"].get<int>());
      EXPECT_TRUE(LocalCluster::WaitFor([&] {
        std::string log = cluster_->Call("GET", path).body;
        return log.size() >= want.size() && log.compare(log.size() - want.size(), want.size(), want) == 0;
      }, 10)) << w.dump() << ": " << cluster_->Call("GET", path).body;
    }
    for (uint64_t id : {a1, a2}) cluster_->Call("POST", "/api/v1/jobs/" + std::to_string(id) + "/cancel", "{}");
    ASSERT_TRUE(LocalCluster::WaitFor([&] { return Pids(a1).empty() && Pids(a2).empty(); }, 10));
  }
}

// A new user's first elastic job whose command always fails: it used to start
// workers forever (16,034 in 3 minutes). Now each failure counts against the
// job's budget, replacements back off, and the job ends FAILED with the reason
// and the failing worker's last output.
TEST_F(ClusterTest, CrashLoopingElasticJobFailsAfterItsBudget) {
  uint64_t id = cluster_->Submit(kRes + "name: crash\nconsumer: /teams/alpha\nworkers: {min: 1, max: 4}\n"
                                        "command: [\"/bin/sh\", \"-c\", \"echo failing on rank $RANK; exit 3\"]\n");
  ASSERT_NE(id, 0u);
  ASSERT_TRUE(cluster_->WaitState(id, "FAILED", 90)) << cluster_->JobState(id);
  HttpReply r = cluster_->Call("GET", "/api/v1/jobs/" + std::to_string(id));
  const std::string reason = r.json["reason"];
  EXPECT_NE(reason.find("exited with 3"), std::string::npos) << reason;
  EXPECT_NE(reason.find("more than max_restarts (6) allows"), std::string::npos) << reason;
  EXPECT_EQ(r.json["failures"], 7);
  EXPECT_LE(r.json["events"].size(), 40u);
  // Every worker that ran said so once in its rank's log (a requeued job reuses ranks).
  int started = 0;
  for (const auto& f : std::filesystem::directory_iterator(cluster_->dir() + "/server/logs/" + std::to_string(id))) {
    if (f.path().extension() != ".log") continue;
    std::ifstream in(f.path());
    for (std::string line; std::getline(in, line);) started += line.rfind("failing on rank", 0) == 0;
  }
  std::printf("the crash-looping job started %d workers, then failed: %s\n", started, reason.c_str());
  EXPECT_LE(started, 14);
  // `drover job` shows the failing worker's last output.
  std::string shown;
  ASSERT_TRUE(LocalCluster::WaitFor([&] {
    shown = cluster_->Cli("job " + std::to_string(id));
    return shown.find("Last output of worker") != std::string::npos;
  }, 10)) << shown;
  EXPECT_NE(shown.find("| failing on rank"), std::string::npos) << shown;
  EXPECT_NE(shown.find("Failures: 7/6 in a row"), std::string::npos) << shown;
}

// An admin drains a host for maintenance: the elastic job on it shrinks onto
// the other host, the drained host gets nothing, and after uncordon the job
// grows back. A user may not drain.
TEST_F(ClusterTest, DrainedHostsWorkMovesAndUncordonLetsItBack) {
  uint64_t id = cluster_->Submit(kRes + "name: e\nconsumer: /teams/alpha\nworkers: {min: 1, max: 8}\n"
                                        "command: [\"sleep\", \"300\"]\n");
  ASSERT_TRUE(LocalCluster::WaitFor([&] { return AllReported(id, 8); }, 20)) << WorldSize(id);
  HttpReply alice = cluster_->Call("POST", "/api/v1/users", R"({"name":"alice","consumers":["/teams/alpha"]})");
  ASSERT_EQ(alice.status, 201);
  EXPECT_EQ(cluster_->Call("POST", "/api/v1/hosts/host-0/drain", "{}", alice.json["token"]).status, 403);
  EXPECT_EQ(cluster_->Call("POST", "/api/v1/hosts/nosuch/drain", "{}").status, 404);
  ASSERT_EQ(cluster_->Call("POST", "/api/v1/hosts/host-0/drain", "{}").status, 200);
  auto on = [&](const std::string& host) {
    int n = 0;
    HttpReply r = cluster_->Call("GET", "/api/v1/jobs/" + std::to_string(id));  // alive through the loop
    for (const json& w : r.json["worker_list"]) {
      n += w["host"].get<std::string>() == host;
    }
    return n;
  };
  ASSERT_TRUE(LocalCluster::WaitFor([&] { return on("host-0") == 0 && AllReported(id, 4); }, 20)) << WorldSize(id);
  HttpReply hosts = cluster_->Call("GET", "/api/v1/hosts");
  EXPECT_EQ(hosts.json["hosts"][0]["drained"], true) << hosts.body;
  EXPECT_EQ(hosts.json["hosts"][0]["gpus_used"], 0) << hosts.body;
  ASSERT_EQ(cluster_->Call("POST", "/api/v1/hosts/host-0/uncordon", "{}").status, 200);
  auto t0 = std::chrono::steady_clock::now();
  bool back = LocalCluster::WaitFor([&] { return on("host-0") == 4 && AllReported(id, 8); }, 20);
  std::printf("grew back onto the uncordoned host %.1f s after uncordon\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  ASSERT_TRUE(back)
      << cluster_->Call("GET", "/api/v1/jobs/" + std::to_string(id)).json["worker_list"].dump();
}

// A consumer's reclaim grace does not start over when the server restarts:
// beta is owed GPUs, 2 s of its 6 s grace pass, the server is killed and
// restarted, and beta's job still starts about 6 s after it was submitted
// (it used to be 2 + 6).
TEST_F(ClusterTest, ReclaimGraceSurvivesAServerKill9) {
  std::string plan = kPlan;
  plan.replace(plan.rfind("reclaim_grace: 2"), 16, "reclaim_grace: 6");  // beta's
  ASSERT_EQ(cluster_->Call("PUT", "/api/v1/plan", plan).status, 200);
  uint64_t b = AlphaBorrowsAllThenBetaClaims();
  ASSERT_NE(b, 0u);
  // The server's own countdown says when 2 s of the grace have passed.
  ASSERT_TRUE(LocalCluster::WaitFor([&] {
    std::string reason = cluster_->Call("GET", "/api/v1/jobs/" + std::to_string(b)).json.value("reason", "");
    size_t at = reason.find("grace ends in ");
    return at != std::string::npos && std::atoi(reason.c_str() + at + 14) <= 4;
  }, 10)) << cluster_->Call("GET", "/api/v1/jobs/" + std::to_string(b)).body;
  // An acknowledged write after it: the timer's batch, queued before, is durable.
  ASSERT_NE(cluster_->Submit("name: marker\nconsumer: /teams/beta\nworkers: 8\n" + kRes + "command: [\"true\"]\n"), 0u);
  cluster_->KillServer(SIGKILL);
  ASSERT_TRUE(cluster_->StartServer());
  ASSERT_TRUE(cluster_->WaitState(b, "RUNNING", 20)) << cluster_->JobState(b);
  const double waited = StartDelay(b);
  std::printf("beta's job started %.2f s after it was submitted (grace 6 s, server restarted 2 s in)\n", waited);
  EXPECT_GE(waited, 6.0);
  EXPECT_LT(waited, 7.9);  // not 2 + 6: the grace did not start over
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
  // The boundary itself (down no earlier than the timeout, at the next cycle
  // after it) is ServerClockTest's, on an injected clock; here only the order.
  std::printf("host marked down %.2f s after its agent was killed (heartbeat timeout 3 s)\n", seconds);
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

std::string ReadFileText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

// A job sees neither the agent's credentials (its command line, its
// environment) nor the agent's other variables; its worker token stops
// working when the job ends.
TEST_F(ClusterTest, JobsSeeNoAgentSecretsAndTheirTokenExpiresWithThem) {
  const std::string join = cluster_->join_token();
  std::string agent_cmdline = ReadFileText("/proc/" + std::to_string(cluster_->agent_pid("host-0")) + "/cmdline");
  EXPECT_FALSE(agent_cmdline.empty());
  EXPECT_EQ(agent_cmdline.find(join), std::string::npos) << "the join token is visible in the agent's cmdline";
  uint64_t id = cluster_->Submit(kRes + "name: snoop\nconsumer: /teams/alpha\ncommand: [\"/bin/sh\", \"-c\", "
                                        "\"env; tr '\\\\0' ' ' < /proc/$PPID/cmdline; echo; echo token=$DROVER_TOKEN\"]\n");
  ASSERT_NE(id, 0u);
  auto state = [&] { return cluster_->Call("GET", "/api/v1/jobs/" + std::to_string(id)).json["state"]; };
  ASSERT_TRUE(LocalCluster::WaitFor([&] { return state() == "SUCCEEDED"; }, 20)) << state();
  std::string out;
  ASSERT_TRUE(LocalCluster::WaitFor([&] {
    out = cluster_->Call("GET", "/api/v1/jobs/" + std::to_string(id) + "/logs?worker=0").body;
    return out.find("token=") != std::string::npos;
  }, 10)) << out;
  EXPECT_EQ(out.find(join), std::string::npos) << out;
  EXPECT_NE(out.find("--join-token xxx"), std::string::npos) << out;  // the keeper's command line was read
  EXPECT_NE(out.find("PATH="), std::string::npos) << out;
  EXPECT_NE(out.find("DROVER_JOB_ID="), std::string::npos) << out;
  // Its token: refused now that the job has ended.
  size_t at = out.find("token=") + 6;
  std::string token = out.substr(at, out.find('\n', at) - at);
  ASSERT_EQ(token.rfind("drv_w_", 0), 0u) << token;
  EXPECT_EQ(cluster_->Call("GET", "/api/v1/jobs/" + std::to_string(id), "", token).status, 401);
}

// Agents: a registration under the name of a host that is up is refused
// unless it proves to be that host's agent; an agent's output for a worker
// the server did not place on its host is not written anywhere.
TEST_F(ClusterTest, AgentsCannotTakeOverAHostNorWriteOtherHostsLogs) {
  const std::string reg = R"({"name": "host-0", "gpu_slots": 64, "cpus": 64, "memory_mib": 65536})";
  HttpReply taken = cluster_->Call("POST", "/api/v1/agent/register", reg, cluster_->join_token());
  EXPECT_EQ(taken.status, 409) << taken.body;
  HttpReply rogue = cluster_->Call("POST", "/api/v1/agent/register",
                                   R"({"name": "rogue", "gpu_slots": 0, "cpus": 1, "memory_mib": 64})",
                                   cluster_->join_token());
  ASSERT_EQ(rogue.status, 200) << rogue.body;
  std::string rogue_token = rogue.json["agent_token"];
  uint64_t id = cluster_->Submit(kRes + "name: victim\nconsumer: /teams/alpha\n"
                                        "command: [\"/bin/sh\", \"-c\", \"echo mine; sleep 300\"]\n");
  ASSERT_TRUE(LocalCluster::WaitFor([&] {
    return cluster_->Call("GET", "/api/v1/jobs/" + std::to_string(id) + "/logs?worker=0").body == "mine\n";
  }, 20));
  json forged = {{"host", "rogue"},
                 {"wait_ms", 0},
                 {"workers", json::array()},
                 {"logs", {{{"job", id}, {"rank", 0}, {"generation", 1}, {"offset", 5}, {"data", "forged\n"}},
                           {{"job", 999}, {"rank", 0}, {"generation", 1}, {"offset", 0}, {"data", "x\n"}}}}};
  HttpReply sync = cluster_->Call("POST", "/api/v1/agent/sync", forged.dump(), rogue_token);
  EXPECT_EQ(sync.status, 200) << sync.body;
  EXPECT_EQ(cluster_->Call("GET", "/api/v1/jobs/" + std::to_string(id) + "/logs?worker=0").body, "mine\n");
  EXPECT_FALSE(std::filesystem::exists(cluster_->dir() + "/server/logs/999"));
}

// The host's own agent, killed and restarted at once, proves itself with the
// token it kept and takes its host back while the host is still up (the
// heartbeat timeout, 30 s, is longer than StartAgent waits).
TEST(AgentRestartTest, ARestartedAgentTakesItsHostBackWithTheTokenItKept) {
  std::string dir = ::testing::TempDir() + "/drover-e2e-agent-restart";
  LocalCluster cluster(DROVER_BINARY, dir);
  ASSERT_TRUE(cluster.Start(1, 4, /*heartbeat_timeout=*/30)) << "see " << dir << "/*.log";
  const std::string kept = dir + "/host-0/agent.token";
  // The agent keeps its token once registered, which the server may see first.
  std::string first;
  ASSERT_TRUE(LocalCluster::WaitFor([&] { return !(first = ReadFileText(kept)).empty(); }, 10));
  cluster.KillAgent("host-0", SIGKILL);
  ASSERT_TRUE(cluster.StartAgent("host-0", 4));
  // Registered again (a new token kept) long before the host could go down.
  ASSERT_TRUE(LocalCluster::WaitFor([&] {
    std::string now = ReadFileText(kept);
    return !now.empty() && now != first;
  }, 10)) << "see " << dir << "/host-0.log";
  EXPECT_EQ(cluster.Call("GET", "/api/v1/hosts").json["hosts"][0]["state"], "up");
  // The same registration without the current token, or with the old one, is refused; with it, accepted.
  auto reg = [&](const std::string& previous) {
    json body = {{"name", "host-0"}, {"gpu_slots", 4}};
    if (!previous.empty()) body["previous_token"] = previous;
    return cluster.Call("POST", "/api/v1/agent/register", body.dump(), cluster.join_token()).status;
  };
  auto line = [](std::string s) { return s.substr(0, s.find('\n')); };
  EXPECT_EQ(reg(""), 409);
  EXPECT_EQ(reg(line(first)), 409);
  EXPECT_EQ(reg(line(ReadFileText(kept))), 200);
  if (!::testing::Test::HasFailure()) std::filesystem::remove_all(dir);
}

// How many of job `id`'s workers run (have a pid) on `host`.
int RunningOn(const LocalCluster& cluster, uint64_t id, const std::string& host) {
  int n = 0;
  HttpReply r = cluster.Call("GET", "/api/v1/jobs/" + std::to_string(id));
  for (const json& w : r.json["worker_list"]) n += w["host"].get<std::string>() == host && w["pid"] != 0;
  return n;
}

// An admin revokes a host whose credential leaked: its agent is refused at
// once (it stops its workers and exits), the job on it shrinks onto the other
// host, and nobody registers under that name, even with the join token, until
// it is admitted again. Rotating the join token refuses the old one for new
// hosts while registered hosts keep syncing with their own credentials.
TEST(AgentRevokeTest, ARevokedHostIsRefusedAndARotatedJoinTokenNoLongerJoins) {
  std::string dir = ::testing::TempDir() + "/drover-e2e-revoke";
  LocalCluster cluster(DROVER_BINARY, dir);
  ASSERT_TRUE(cluster.Start(2, 2, /*heartbeat_timeout=*/30)) << "see " << dir << "/*.log";
  ASSERT_EQ(cluster.Call("PUT", "/api/v1/plan", kPlan).status, 200);
  uint64_t id = cluster.Submit(kRes + "name: e\nconsumer: /teams/alpha\nworkers: {min: 1, max: 4}\n"
                                      "command: [\"sleep\", \"300\"]\n");
  auto on = [&](const std::string& host) { return RunningOn(cluster, id, host); };
  ASSERT_TRUE(LocalCluster::WaitFor([&] { return on("host-0") == 2 && on("host-1") == 2; }, 20));
  const pid_t agent1 = cluster.agent_pid("host-1");
  const std::string reg1 = R"({"name": "host-1", "gpu_slots": 2})";
  // Only admins revoke.
  HttpReply as_user = cluster.Call("POST", "/api/v1/hosts/host-1/revoke", "{}", cluster.join_token());
  EXPECT_EQ(as_user.status, 403) << as_user.body;
  HttpReply revoked = cluster.Call("POST", "/api/v1/hosts/host-1/revoke", "{}");
  ASSERT_EQ(revoked.status, 200) << revoked.body;
  EXPECT_TRUE(LocalCluster::WaitFor([&] { return !Alive(agent1); }, 10)) << "the revoked agent still runs";
  EXPECT_TRUE(LocalCluster::WaitFor([&] { return on("host-1") == 0 && on("host-0") == 2; }, 10))
      << cluster.Call("GET", "/api/v1/jobs/" + std::to_string(id)).body;
  HttpReply again = cluster.Call("POST", "/api/v1/agent/register", reg1, cluster.join_token());
  EXPECT_EQ(again.status, 403) << again.body;
  EXPECT_FALSE(again.json.contains("agent_token")) << again.body;
  EXPECT_NE(again.body.find("revoked"), std::string::npos) << again.body;
  HttpReply admitted = cluster.Call("POST", "/api/v1/hosts/host-1/admit", "{}");
  ASSERT_EQ(admitted.status, 200) << admitted.body;
  EXPECT_EQ(cluster.Call("POST", "/api/v1/hosts/host-1/admit", "{}").status, 409);  // not revoked now
  EXPECT_EQ(cluster.Call("POST", "/api/v1/agent/register", reg1, cluster.join_token()).status, 200);

  // Rotation: the old join token no longer registers a host; the new one (answered, and in the file) does.
  const std::string old_join = cluster.join_token();
  HttpReply rotated = cluster.Call("POST", "/api/v1/join-token/rotate", "{}");
  ASSERT_EQ(rotated.status, 200) << rotated.body;
  const std::string fresh = rotated.json["token"];
  EXPECT_EQ(ReadFileText(dir + "/server/join.token"), fresh + "\n");
  const std::string reg2 = R"({"name": "host-2", "gpu_slots": 1})";
  EXPECT_EQ(cluster.Call("POST", "/api/v1/agent/register", reg2, old_join).status, 401);
  EXPECT_EQ(cluster.Call("POST", "/api/v1/agent/register", reg2, fresh).status, 200);
  // host-0 keeps its own credential: it still syncs (last_seen moves on) and its workers run.
  auto last_seen = [&] {
    HttpReply r = cluster.Call("GET", "/api/v1/hosts");  // named: the loop must not outlive it
    for (const json& h : r.json["hosts"]) {
      if (h["name"] == "host-0") return h["last_seen"].get<double>();
    }
    return 0.0;
  };
  const double seen = last_seen();
  EXPECT_TRUE(LocalCluster::WaitFor([&] { return last_seen() > seen; }, 10));
  EXPECT_TRUE(Alive(cluster.agent_pid("host-0")));
  EXPECT_EQ(on("host-0"), 2);
  if (!::testing::Test::HasFailure()) std::filesystem::remove_all(dir);
}

// An agent stopped for maintenance (SIGTERM) tells the server: its host is
// down at once, not after the heartbeat timeout (30 s here), the elastic job
// on it shrinks onto the other host without counting failures, and nothing
// grows back onto the stopped host.
TEST(AgentLeavingTest, AStoppedAgentsHostIsDownAtOnceAndItsJobShrinks) {
  std::string dir = ::testing::TempDir() + "/drover-e2e-leaving";
  LocalCluster cluster(DROVER_BINARY, dir);
  ASSERT_TRUE(cluster.Start(2, 4, /*heartbeat_timeout=*/30)) << "see " << dir << "/*.log";
  ASSERT_EQ(cluster.Call("PUT", "/api/v1/plan", kPlan).status, 200);
  uint64_t id = cluster.Submit(kRes + "name: e\nconsumer: /teams/alpha\nworkers: {min: 1, max: 8}\n"
                                      "command: [\"sleep\", \"300\"]\n");
  auto workers = [&](const std::string& host) { return RunningOn(cluster, id, host); };
  ASSERT_TRUE(LocalCluster::WaitFor([&] { return workers("host-0") == 4 && workers("host-1") == 4; }, 20));
  auto t0 = std::chrono::steady_clock::now();
  cluster.KillAgent("host-1", SIGTERM);  // returns once the agent has exited
  HttpReply hosts = cluster.Call("GET", "/api/v1/hosts");
  EXPECT_EQ(hosts.json["hosts"][1]["state"], "down") << hosts.body;  // already, at the agent's exit
  ASSERT_TRUE(LocalCluster::WaitFor([&] {
    HttpReply r = cluster.Call("GET", "/api/v1/jobs/" + std::to_string(id));
    return r.json["world_size"] == 4 && workers("host-1") == 0;
  }, 10)) << cluster.Call("GET", "/api/v1/jobs/" + std::to_string(id)).body;
  std::printf("job shrank off the stopped host %.2f s after SIGTERM (heartbeat timeout 30 s)\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  HttpReply job = cluster.Call("GET", "/api/v1/jobs/" + std::to_string(id));
  EXPECT_EQ(job.json["failures"], 0) << job.body;
  EXPECT_EQ(job.json["state"], "RUNNING");
  if (!::testing::Test::HasFailure()) std::filesystem::remove_all(dir);
}

// An agent killed with -9 stops syncing: within its long poll (1 s) plus the
// slack (2 s) its host is in doubt and gets no new work, long before the
// heartbeat timeout (30 s here) marks it down. A job that would fit only
// there waits (it used to start there, on a host whose agent was gone).
TEST(AgentKilledTest, AHostThatMissesASyncGetsNoNewWorkBeforeItIsDown) {
  std::string dir = ::testing::TempDir() + "/drover-e2e-in-doubt";
  LocalCluster cluster(DROVER_BINARY, dir);
  ASSERT_TRUE(cluster.Start(2, 4, /*heartbeat_timeout=*/30)) << "see " << dir << "/*.log";
  ASSERT_EQ(cluster.Call("PUT", "/api/v1/plan", kPlan).status, 200);
  auto job = [&](uint64_t id) { return cluster.Call("GET", "/api/v1/jobs/" + std::to_string(id)).json; };
  auto host_of = [&](uint64_t id) { return job(id)["worker_list"][0]["host"].get<std::string>(); };
  // Four workers fill one host; a fifth job of 2 takes half of the other.
  uint64_t full = cluster.Submit(kRes + "name: full\nconsumer: /teams/alpha\nworkers: 4\ncommand: [\"sleep\", \"300\"]\n");
  ASSERT_TRUE(LocalCluster::WaitFor([&] { return job(full)["state"] == "RUNNING"; }, 20));
  uint64_t half = cluster.Submit(kRes + "name: half\nconsumer: /teams/alpha\nworkers: 2\ncommand: [\"sleep\", \"300\"]\n");
  ASSERT_TRUE(LocalCluster::WaitFor([&] { return job(half)["state"] == "RUNNING"; }, 20));
  const std::string victim = host_of(half);
  ASSERT_NE(victim, host_of(full));
  auto t0 = std::chrono::steady_clock::now();
  cluster.KillAgent(victim, SIGKILL);
  json host;
  ASSERT_TRUE(LocalCluster::WaitFor([&] {
    HttpReply r = cluster.Call("GET", "/api/v1/hosts");  // named: the loop must not outlive it
    for (const json& h : r.json["hosts"]) {
      if (h["name"] == victim) host = h;
    }
    return host.contains("in_doubt") && host["in_doubt"].is_string();
  }, 10)) << cluster.Call("GET", "/api/v1/hosts").body;
  std::printf("host in doubt %.2f s after its agent was killed (heartbeat timeout 30 s): %s\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
              host["in_doubt"].get<std::string>().c_str());
  EXPECT_EQ(host["state"], "up");
  // Two free GPUs are on the victim only: a new job of 1 waits, with a reason.
  uint64_t late = cluster.Submit(kRes + "name: late\nconsumer: /teams/alpha\ncommand: [\"sleep\", \"300\"]\n");
  ASSERT_TRUE(LocalCluster::WaitFor([&] { return job(late)["pending_kind"].is_string(); }, 10)) << job(late).dump();
  std::printf("a new job waits: %s\n", job(late)["reason"].get<std::string>().c_str());
  EXPECT_EQ(job(late)["state"], "PENDING") << job(late).dump();
  EXPECT_TRUE(job(late)["worker_list"].empty()) << job(late).dump();
  EXPECT_NE(job(late)["reason"].get<std::string>().find("hosts in doubt (" + victim + ")"), std::string::npos);
  if (!::testing::Test::HasFailure()) std::filesystem::remove_all(dir);
}

// Requests are limits where the agent can make cgroups (root, v1 here): a
// worker over its memory request is OOM-killed and the job says so; one that
// spins gets its CPU quota, against a control that asks for a whole CPU.
TEST_F(ClusterTest, WorkersAreHeldToTheirRequests) {
  auto job = [&](uint64_t id) { return cluster_->Call("GET", "/api/v1/jobs/" + std::to_string(id)).json; };
  auto log = [&](uint64_t id) { return cluster_->Call("GET", "/api/v1/jobs/" + std::to_string(id) + "/logs?worker=0").body; };
  uint64_t hog = cluster_->Submit(
      "name: hog\nconsumer: /teams/alpha\nresources: {gpus: 1, cpus: 0.5, memory: 64Mi}\n"
      "command: [\"python3\", \"-c\", \"x = bytearray(400 << 20)\\nprint('survived', len(x))\"]\n");
  ASSERT_TRUE(LocalCluster::WaitFor([&] { return job(hog)["state"] == "FAILED"; }, 30)) << job(hog).dump();
  std::string reason = job(hog)["reason"];
  std::printf("the memory hog: %s\n", reason.c_str());
  EXPECT_NE(reason.find("out of memory (its limit is 64 MiB"), std::string::npos) << reason;
  EXPECT_EQ(log(hog).find("survived"), std::string::npos) << log(hog);
  // CPU-seconds used in 2 s of spinning, limited to 0.1 CPU and (control) to 1.
  auto spin = [&](const std::string& cpus) {
    uint64_t id = cluster_->Submit(
        "name: spin\nconsumer: /teams/alpha\nresources: {gpus: 1, cpus: " + cpus + ", memory: 256Mi}\n"
        "command: [\"python3\", \"-c\", \"import os, time\\nt = time.time()\\nwhile time.time() - t < 2: pass\\n"
        "c = os.times()\\nprint('cpu', c.user + c.system)\"]\n");
    if (!LocalCluster::WaitFor([&] { return job(id)["state"] == "SUCCEEDED"; }, 30)) return -1.0;
    std::string out;
    LocalCluster::WaitFor([&] { return (out = log(id)).find("cpu ") != std::string::npos; }, 10);
    size_t at = out.find("cpu ");
    return at == std::string::npos ? -1.0 : std::stod(out.substr(at + 4));
  };
  double limited = spin("0.1"), whole = spin("1");
  std::printf("CPU-seconds in 2 s of spinning: %.2f at cpus 0.1, %.2f at cpus 1\n", limited, whole);
  ASSERT_GT(limited, 0);
  EXPECT_LT(limited, 0.6);
  EXPECT_GT(whole, 2 * limited);
}

// A consumer's run_as: its jobs' workers run as that user (inherited by its
// children), so they cannot read the server's data dir; a consumer without
// one runs as the agent's user (the control: it can).
TEST(RunAsTest, WorkersRunAsTheirConsumersUserAndCannotReadTheServersSecrets) {
  if (geteuid() != 0) GTEST_SKIP() << "only a root agent runs workers as other users";
  std::string dir = ::testing::TempDir() + "/drover-e2e-run-as";
  LocalCluster cluster(DROVER_BINARY, dir);
  cluster.AddServerArgs({"--default-run-as", "daemon"});  // consumers that name nobody run as daemon
  ASSERT_TRUE(cluster.Start(1, 4)) << "see " << dir << "/*.log";
  ASSERT_EQ(cluster.Call("PUT", "/api/v1/plan",
                         "consumers:\n  - name: ops\n    run_as: root\n  - name: team\n    run_as: nobody\n"
                         "    children:\n      - name: sub\n  - name: misc\n").status, 200);
  json consumers = cluster.Call("GET", "/api/v1/consumers").json["consumers"];
  std::map<std::string, json> run_as;
  for (const json& c : consumers) run_as[c["path"]] = c["run_as"];
  EXPECT_EQ(run_as["/team/sub"], "nobody");  // inherited
  EXPECT_EQ(run_as["/misc"], "daemon");      // the server's default
  EXPECT_EQ(run_as["/ops"], "root");
  const std::string secret = ReadFileText(dir + "/server/secret");
  ASSERT_FALSE(secret.empty());
  auto run = [&](const std::string& consumer) {
    const std::string agent = std::to_string(cluster.agent_pid("host-0"));
    uint64_t id = cluster.Submit(kRes + "name: snoop\nconsumer: " + consumer + "\ncommand: [\"/bin/sh\", \"-c\", "
                                 "\"echo uid=$(id -u); cat " + dir + "/server/secret; touch mine && echo wrote; "
                                 "cat /proc/" + agent + "/environ > /dev/null && echo read-environ; "
                                 "kill -0 " + agent + " && echo can-signal; echo home=$HOME\"]\n");
    EXPECT_TRUE(LocalCluster::WaitFor([&] {
      return cluster.Call("GET", "/api/v1/jobs/" + std::to_string(id)).json["state"] == "SUCCEEDED";
    }, 20));
    std::string out;
    LocalCluster::WaitFor([&] {
      out = cluster.Call("GET", "/api/v1/jobs/" + std::to_string(id) + "/logs?worker=0").body;
      return out.find("home=") != std::string::npos;
    }, 10);
    return out;
  };
  std::string nobody = run("/team/sub");
  std::printf("as /team/sub:\n%s", nobody.c_str());
  EXPECT_NE(nobody.find("uid=65534"), std::string::npos) << nobody;
  EXPECT_NE(nobody.find("Permission denied"), std::string::npos) << nobody;
  EXPECT_EQ(nobody.find(secret.substr(0, secret.find('\n'))), std::string::npos) << nobody;
  EXPECT_NE(nobody.find("wrote"), std::string::npos) << nobody;  // its own directory is its own
  EXPECT_EQ(nobody.find("read-environ"), std::string::npos) << nobody;  // the agent's environment
  EXPECT_EQ(nobody.find("can-signal"), std::string::npos) << nobody;    // nor may it signal the agent
  EXPECT_NE(run("/misc").find("uid=1"), std::string::npos);  // daemon
  std::string root = run("/ops");
  EXPECT_NE(root.find("uid=0"), std::string::npos) << root;
  EXPECT_NE(root.find("can-signal"), std::string::npos) << root;
  EXPECT_NE(root.find("read-environ"), std::string::npos) << root;
  EXPECT_NE(root.find(secret.substr(0, secret.find('\n'))), std::string::npos) << "the control should read it";
  if (!::testing::Test::HasFailure()) std::filesystem::remove_all(dir);
}

// With --no-root-workers, a job whose workers would run as root (no run_as
// for its consumer or above, or run_as root) is refused at submit with the
// reason, and nothing is queued; a consumer with a user is the control.
TEST(RunAsTest, AServerThatRefusesRootWorkersRefusesTheirJobsAtSubmit) {
  std::string dir = ::testing::TempDir() + "/drover-e2e-no-root";
  LocalCluster cluster(DROVER_BINARY, dir);
  cluster.AddServerArgs({"--no-root-workers"});
  ASSERT_TRUE(cluster.Start(0, 0)) << "see " << dir << "/*.log";
  ASSERT_EQ(cluster.Call("PUT", "/api/v1/plan",
                         "consumers:\n  - name: ops\n    run_as: root\n  - name: team\n    run_as: nobody\n"
                         "    children:\n      - name: sub\n  - name: misc\n").status, 200);
  auto submit = [&](const std::string& consumer) {
    return cluster.Call("POST", "/api/v1/jobs", kRes + "name: j\nconsumer: " + consumer + "\ncommand: [\"true\"]\n");
  };
  HttpReply misc = submit("/misc"), ops = submit("/ops");
  EXPECT_EQ(misc.status, 403) << misc.body;
  EXPECT_NE(misc.body.find("no run_as in the plan"), std::string::npos) << misc.body;
  EXPECT_EQ(ops.status, 403) << ops.body;
  EXPECT_NE(ops.body.find("its run_as is root"), std::string::npos) << ops.body;
  EXPECT_EQ(submit("/team/sub").status, 201);  // inherits nobody
  EXPECT_EQ(submit("/nowhere").status, 404);   // an unknown consumer is still named as such
  EXPECT_EQ(cluster.Call("GET", "/api/v1/jobs").json["jobs"].size(), 1u);
  if (!::testing::Test::HasFailure()) std::filesystem::remove_all(dir);
}

// One user holds 200 idle and 200 trickling connections and asks for 100
// long polls: the server parks 64 of its polls (more get 429), and another
// user is answered meanwhile. The bench (scale_bench) reports the numbers;
// here they are asserted loosely (this machine is shared).
TEST(AbuseTest, OneUsersConnectionsAndLongPollsDoNotStarveAnother) {
  std::string dir = ::testing::TempDir() + "/drover-e2e-abuse";
  LocalCluster cluster(DROVER_BINARY, dir);
  ASSERT_TRUE(cluster.Start(0, 0)) << "see " << dir << "/*.log";
  AbuseResult a = RunAbuse(cluster, AbuseOptions{});
  std::sort(a.get_ms.begin(), a.get_ms.end());
  double p99 = a.get_ms.empty() ? 1e9 : a.get_ms[a.get_ms.size() * 99 / 100];
  std::printf("connections held %d, polls parked %d, refused %d; the other user's GET p99 %.1f ms, %d failed\n",
              a.connections_held, a.polls_parked, a.polls_refused, p99, a.gets_failed);
  EXPECT_EQ(a.connections_held, 400);
  // 100 asked, 64 per principal. Under a slow build a poll's connection may
  // fail on the client's side before the server sees it: it counts apart.
  EXPECT_EQ(a.polls_parked, 64);
  EXPECT_EQ(a.polls_refused + a.polls_failed, 36) << a.polls_failed << " failed";
  EXPECT_EQ(a.gets_failed, 0);
  EXPECT_LT(p99, 1000);
  if (!::testing::Test::HasFailure()) std::filesystem::remove_all(dir);
}

// Requests the server refuses before any handler: two Authorization headers,
// Content-Length with Transfer-Encoding, a percent-encoded bearer.
TEST_F(ClusterTest, AmbiguousRequestsAreRefused) {
  auto raw = [&](const std::string& request) {
    int fd = ConnectLoopback(cluster_->port());
    if (fd < 0) return std::string("connect failed");
    (void)!send(fd, request.data(), request.size(), MSG_NOSIGNAL);
    std::string answer;
    char buf[4096];
    for (ssize_t n; (n = recv(fd, buf, sizeof buf, 0)) > 0;) {
      answer.append(buf, static_cast<size_t>(n));
      if (answer.find("\r\n\r\n") != std::string::npos) break;
    }
    close(fd);
    return answer.substr(0, answer.find("\r\n"));
  };
  const std::string admin = "Authorization: Bearer " + cluster_->admin_token() + "\r\n";
  EXPECT_EQ(raw("GET /api/v1/jobs HTTP/1.1\r\nHost: x\r\n" + admin + "\r\n"), "HTTP/1.1 200 OK");  // control
  EXPECT_EQ(raw("GET /api/v1/jobs HTTP/1.1\r\nHost: x\r\n" + admin + admin + "\r\n"), "HTTP/1.1 400 Bad Request");
  EXPECT_EQ(raw("POST /api/v1/jobs HTTP/1.1\r\nHost: x\r\n" + admin +
                "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
            "HTTP/1.1 400 Bad Request");
  EXPECT_EQ(raw("GET /api/v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer%20" + cluster_->admin_token() +
                "\r\n\r\n"),
            "HTTP/1.1 401 Unauthorized");
}

// Runs `cmd` through the shell; its output and exit code.
std::pair<std::string, int> Shell(const std::string& cmd) {
  std::string out;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return {"", -1};
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  int status = pclose(p);
  return {out, WIFEXITED(status) ? WEXITSTATUS(status) : -1};
}

// HTTPS with a test CA: the server's certificate (for 127.0.0.1) is signed by
// it, the agents and the CLI verify against it (--ca-cert), a job's workers
// reach the server through it; a client without the CA, or a certificate for
// another host, is refused.
TEST(TlsClusterTest, ServesHttpsThatAgentsAndTheCliVerifyAgainstATestCa) {
  std::string dir = ::testing::TempDir() + "/drover-e2e-tls";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  auto [made, rc] = Shell(
      "cd " + dir + " && openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=drover-test-ca "
      "-keyout ca.key -out ca.pem && "
      "openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout key.pem -out req.csr && "
      "printf 'subjectAltName=IP:127.0.0.1\n' > san.ext && "
      "openssl x509 -req -in req.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 -extfile san.ext -out cert.pem && "
      "openssl req -newkey rsa:2048 -nodes -subj /CN=elsewhere.example -keyout other.key -out other.csr && "
      "printf 'subjectAltName=DNS:elsewhere.example\n' > other.ext && "
      "openssl x509 -req -in other.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 -extfile other.ext "
      "-out other.pem");
  if (rc != 0) GTEST_SKIP() << "openssl could not make the test certificates: " << made;
  const std::string ca = dir + "/ca.pem";
  {
    LocalCluster cluster(DROVER_BINARY, dir + "/good");
    cluster.EnableTls(dir + "/cert.pem", dir + "/key.pem", ca);
    ASSERT_TRUE(cluster.Start(1, 4)) << "see " << dir << "/good/*.log";
    ASSERT_EQ(cluster.url().rfind("https://", 0), 0u);
    // A worker of the job talks to the server over TLS too (its token reads its own job).
    // Memory for the CLI it runs: requests are limits, and an ASan build needs more than 64 MiB.
    uint64_t id = cluster.Submit(std::string("resources: {gpus: 1, cpus: 0.5, memory: 1Gi}\nname: tls\ncommand: [\"/bin/sh\", \"-c\", \"") + DROVER_BINARY +
                                 " job $DROVER_JOB_ID -o json > /dev/null && echo reached the server\"]\n");
    ASSERT_NE(id, 0u);
    EXPECT_TRUE(cluster.WaitState(id, "SUCCEEDED", 15)) << cluster.JobState(id);
    const std::string cfg = "XDG_CONFIG_HOME=" + dir + "/cfg ";
    auto [ok, ok_rc] = Shell(cfg + DROVER_BINARY + " login --server " + cluster.url() + " --ca-cert " + ca +
                             " --token " + cluster.admin_token());
    EXPECT_EQ(ok_rc, 0) << ok;
    auto [untrusted, untrusted_rc] = Shell(cfg + DROVER_BINARY + " login --server " + cluster.url() + " --token " +
                                           cluster.admin_token());
    EXPECT_EQ(untrusted_rc, 1) << untrusted;
    EXPECT_NE(untrusted.find("not trusted"), std::string::npos) << untrusted;
  }
  {
    // A certificate the CA signed, but for another host: refused as well.
    LocalCluster cluster(DROVER_BINARY, dir + "/wrong-host");
    cluster.EnableTls(dir + "/other.pem", dir + "/other.key");
    ASSERT_TRUE(cluster.StartServer()) << "see " << dir << "/wrong-host/*.log";
    auto [refused, refused_rc] = Shell("XDG_CONFIG_HOME=" + dir + "/cfg2 " + std::string(DROVER_BINARY) +
                                       " login --server " + cluster.url() + " --ca-cert " + ca + " --token x");
    EXPECT_EQ(refused_rc, 1) << refused;
    EXPECT_NE(refused.find("not trusted or not for 127.0.0.1"), std::string::npos) << refused;
  }
  if (!HasFailure()) std::filesystem::remove_all(dir);
}

// The endpoints of the elastic training runtime, used as its workers use
// them: with the job-scoped token each worker gets in DROVER_TOKEN.
class RuntimeTest : public ClusterTest {
 protected:
  RuntimeTest() { server_args_ = {"--worker-heartbeat-timeout", "1"}; }

  // Submits a job whose rank 0 writes its worker token to a file, and returns the id and token.
  std::pair<uint64_t, std::string> SubmitWithToken(const std::string& yaml) {
    std::string dir = cluster_->dir();
    uint64_t id = cluster_->Submit(yaml + kRes + "command: [\"/bin/sh\", \"-c\", \"if [ $RANK = 0 ]; then echo $DROVER_TOKEN > " +
                                   dir + "/t-$DROVER_JOB_ID.tmp; mv " + dir + "/t-$DROVER_JOB_ID.tmp " + dir +
                                   "/t-$DROVER_JOB_ID; fi; sleep 300\"]\n");
    std::string token;
    std::string file = dir + "/t-" + std::to_string(id);
    EXPECT_TRUE(LocalCluster::WaitFor([&] {
      std::ifstream in(file);
      return static_cast<bool>(std::getline(in, token)) && !token.empty();
    }, 20)) << "no token from job " << id;
    return {id, token};
  }

  HttpReply Job(uint64_t id) { return cluster_->Call("GET", "/api/v1/jobs/" + std::to_string(id)); }
};

// What `drover job` shows of a job's training — progress and resizes with
// their pauses — is the same after the server is killed and restarted.
TEST_F(RuntimeTest, ProgressAndResizesSurviveAServerKill9) {
  auto [id, token] = SubmitWithToken("name: elastic\nconsumer: /teams/alpha\nworkers: {min: 1, max: 2}\n");
  ASSERT_FALSE(token.empty());
  std::string job = "/api/v1/jobs/" + std::to_string(id);
  ASSERT_TRUE(LocalCluster::WaitFor([&] { return AllReported(id, 2); }, 20)) << WorldSize(id);
  int64_t g = cluster_->Call("GET", job + "/members", "", token).json["generation"];
  HttpReply posted = cluster_->Call(
      "POST", job + "/workers/0/status",
      json{{"generation", g}, {"ready", true}, {"step", 7}, {"epoch", 1}, {"loss", 0.25}, {"samples_per_s", 50.0},
           {"world_size", 2}, {"rescale", {{"from", 1}, {"to", 2}, {"pause_ms", 42.0}}}}
          .dump(),
      token);
  ASSERT_EQ(posted.status, 200) << posted.body;
  // Progress is written with the next scheduling cycle: once a job submitted
  // after the post runs, that cycle's batch is durable.
  uint64_t later = cluster_->Submit(kRes + "name: later\nconsumer: /teams/beta\ncommand: [\"sleep\", \"300\"]\n");
  ASSERT_TRUE(cluster_->WaitState(later, "RUNNING", 20));
  json before = Job(id).json;
  cluster_->KillServer(SIGKILL);
  ASSERT_TRUE(cluster_->StartServer());
  json after = Job(id).json;
  for (const char* field : {"step", "epoch", "loss", "samples_per_s", "rescales"}) {
    EXPECT_EQ(after[field], before[field]) << field;
  }
  EXPECT_EQ(after["step"], 7);
  ASSERT_FALSE(after["rescales"].empty());
  EXPECT_EQ(after["rescales"].back()["pause_ms"], 42.0) << after["rescales"].dump();
}

TEST_F(RuntimeTest, EachJobHasAKeyValueStoreForItsRendezvous) {
  auto [id, token] = SubmitWithToken("name: kv\nconsumer: /teams/alpha\n");
  auto [other, other_token] = SubmitWithToken("name: other\nconsumer: /teams/beta\n");
  ASSERT_FALSE(token.empty());
  ASSERT_FALSE(other_token.empty());
  std::string kv = "/api/v1/jobs/" + std::to_string(id) + "/kv";
  std::string value("bytes\0with a nul", 16);
  HttpReply put = cluster_->Call("PUT", kv + "/gen1/addr", value, token);
  ASSERT_EQ(put.status, 200) << put.body;
  EXPECT_EQ(put.json["key"], "gen1/addr");
  HttpReply get = cluster_->Call("GET", kv + "/gen1/addr", "", token);
  EXPECT_EQ(get.status, 200);
  EXPECT_EQ(get.body, value);
  HttpReply missing = cluster_->Call("GET", kv + "/gen1/nope?wait_ms=50", "", token);
  EXPECT_EQ(missing.status, 404);
  EXPECT_NE(missing.json.value("error", "").find("not set"), std::string::npos) << missing.body;

  // A waiting read wakes as soon as another client sets the key.
  auto waiting = std::async(std::launch::async, [&, token = token] {
    HttpReply r = cluster_->Call("GET", kv + "/gen1/late?wait_ms=5000", "", token);
    return std::make_pair(r, std::chrono::steady_clock::now());
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(cluster_->Call("PUT", kv + "/gen1/late", "here", token).status, 200);
  auto [late, t1] = waiting.get();
  double ms = std::chrono::duration<double, std::milli>(t1 - t0).count();
  std::printf("a waiting read returned %.2f ms after the write began\n", ms);
  EXPECT_EQ(late.status, 200);
  EXPECT_EQ(late.body, "here");
  EXPECT_LT(ms, 50);

  // Counters, deletion, the number of keys.
  EXPECT_EQ(cluster_->Call("POST", kv + "/gen1/count?add=3", "", token).json["value"], 3);
  EXPECT_EQ(cluster_->Call("POST", kv + "/gen1/count?add=-5", "", token).json["value"], -2);
  EXPECT_EQ(cluster_->Call("GET", kv + "/gen1/count", "", token).body, "-2");
  EXPECT_EQ(cluster_->Call("POST", kv + "/gen1/count", "", token).status, 400);
  EXPECT_EQ(cluster_->Call("POST", kv + "/gen1/count?add=x", "", token).status, 400);
  EXPECT_EQ(cluster_->Call("POST", kv + "/gen1/addr?add=1", "", token).status, 400);
  EXPECT_EQ(cluster_->Call("GET", kv, "", token).json["keys"], 3);
  EXPECT_EQ(cluster_->Call("DELETE", kv + "/gen1/count", "", token).json["deleted"], true);
  EXPECT_EQ(cluster_->Call("DELETE", kv + "/gen1/count", "", token).json["deleted"], false);
  EXPECT_EQ(cluster_->Call("GET", kv).json["keys"], 2);  // the admin may look too

  // Limits: key length, 64 MiB of values per job (each request stays under the 1 MiB body limit).
  EXPECT_EQ(cluster_->Call("PUT", kv + "/" + std::string(513, 'k'), "x", token).status, 400);
  std::string chunk(1000000, 'v');
  int stored = 0;
  HttpReply full;
  for (int i = 0; i < 80; ++i) {
    full = cluster_->Call("PUT", kv + "/big/" + std::to_string(i), chunk, token);
    if (full.status != 200) break;
    ++stored;
  }
  EXPECT_EQ(stored, 67);
  EXPECT_EQ(full.status, 413);
  EXPECT_NE(full.json.value("error", "").find("64 MiB"), std::string::npos) << full.body;

  // Another job's worker cannot see this store; the store ends with its job.
  EXPECT_EQ(cluster_->Call("GET", kv + "/gen1/addr", "", other_token).status, 404);
  EXPECT_EQ(cluster_->Call("PUT", kv + "/gen1/addr", "x", other_token).status, 404);
  EXPECT_EQ(cluster_->Call("GET", kv + "/gen1/addr", "", cluster_->join_token()).status, 403);
  EXPECT_EQ(cluster_->Call("POST", "/api/v1/jobs/" + std::to_string(id) + "/cancel", "{}").status, 200);
  // Its workers' token expired with it; the admin is told the job has ended.
  EXPECT_EQ(cluster_->Call("GET", kv + "/gen1/addr", "", token).status, 401);
  HttpReply ended = cluster_->Call("GET", kv + "/gen1/addr");
  EXPECT_EQ(ended.status, 409);
  EXPECT_NE(ended.json.value("error", "").find("has ended"), std::string::npos) << ended.body;
}

TEST_F(RuntimeTest, WorkerStatusShowsProgressGatesReadinessAndSilentWorkersLeave) {
  auto [id, token] = SubmitWithToken("name: elastic\nconsumer: /teams/alpha\nworkers: {min: 1, max: 3}\n");
  ASSERT_FALSE(token.empty());
  std::string job = "/api/v1/jobs/" + std::to_string(id);
  ASSERT_TRUE(LocalCluster::WaitFor([&] { return AllReported(id, 3); }, 20)) << WorldSize(id);
  int64_t g0 = cluster_->Call("GET", job + "/members", "", token).json["generation"];
  auto status = [&](int rank, const json& body, const std::string& as = "") {
    return cluster_->Call("POST", job + "/workers/" + std::to_string(rank) + "/status", body.dump(),
                          as.empty() ? token : as);
  };

  // Heartbeats every 200 ms for the ranks in `beating`, as the runtime sends them.
  std::mutex mu;
  std::set<int> beating = {0, 1};
  std::atomic<bool> stop{false};
  std::thread heart([&, token = token] {
    while (!stop) {
      std::set<int> ranks;
      {
        std::lock_guard<std::mutex> lock(mu);
        ranks = beating;
      }
      for (int r : ranks) {
        cluster_->Call("POST", job + "/workers/" + std::to_string(r) + "/status", json{{"generation", g0}}.dump(),
                       token);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  });
  struct Joiner {
    std::atomic<bool>& stop;
    std::thread& t;
    ~Joiner() {
      stop = true;
      t.join();
    }
  } joiner{stop, heart};

  HttpReply first = status(0, {{"generation", g0}, {"ready", true}, {"step", 5}, {"epoch", 0}, {"loss", 0.5},
                                {"samples_per_s", 100.0}, {"world_size", 3}});
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(first.json["generation"], g0);
  ASSERT_EQ(status(1, {{"generation", g0}, {"ready", true}, {"step", 3}, {"loss", 0.9}}).status, 200);
  HttpReply j = Job(id);
  EXPECT_EQ(j.json["step"], 5) << "a lagging rank does not move the step back";
  EXPECT_EQ(j.json["loss"], 0.5);
  EXPECT_EQ(j.json["epoch"], 0);
  EXPECT_EQ(j.json["samples_per_s"], 100.0);
  EXPECT_EQ(j.json["world_size"], 3);
  EXPECT_EQ(cluster_->Call("GET", "/api/v1/jobs").json["jobs"][0]["step"], 5);
  HttpReply bad = status(0, {{"generation", g0}, {"loss", "low"}});
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.json["error"], "loss: expected a number");
  HttpReply stranger = status(7, {{"generation", g0}});
  EXPECT_EQ(stranger.status, 404);
  EXPECT_EQ(stranger.json["error"], "worker 7 of job " + std::to_string(id) + " is not a member");
  HttpReply alice = cluster_->Call("POST", "/api/v1/users", R"({"name":"alice","consumers":["/teams/alpha"]})");
  EXPECT_EQ(status(0, {{"generation", g0}}, alice.json["token"]).status, 403);

  // Shrink to 2 and grow back to 3: the new rank 2 starts not ready, and a
  // membership read with ready=1 waits for it.
  ASSERT_EQ(cluster_->Call("PATCH", job, R"({"workers":{"min":1,"max":2}})").status, 200);
  ASSERT_EQ(cluster_->Call("PATCH", job, R"({"workers":{"min":1,"max":3}})").status, 200);
  HttpReply grown;
  ASSERT_TRUE(LocalCluster::WaitFor([&] {
    grown = cluster_->Call("GET", job + "/members", "", token);
    return grown.json["members"].size() == 3u;
  }, 10));
  int64_t g1 = grown.json["generation"];
  EXPECT_EQ(grown.json["members"][0]["ready"], true);
  EXPECT_EQ(grown.json["members"][2]["ready"], false);
  auto waiting = std::async(std::launch::async, [&, token = token] {
    return cluster_->Call("GET", job + "/members?after=" + std::to_string(g1 - 1) + "&ready=1&wait_ms=8000", "",
                          token);
  });
  EXPECT_EQ(waiting.wait_for(std::chrono::milliseconds(500)), std::future_status::timeout)
      << "returned before the new member was ready";
  {
    std::lock_guard<std::mutex> lock(mu);
    beating.insert(2);
  }
  ASSERT_EQ(status(2, {{"generation", g1}, {"ready", true}}).status, 200);
  ASSERT_EQ(waiting.wait_for(std::chrono::seconds(2)), std::future_status::ready);
  HttpReply ready = waiting.get();
  ASSERT_EQ(ready.status, 200);
  for (const json& m : ready.json["members"]) EXPECT_EQ(m["ready"], true) << ready.body;

  // The pause a resize cost goes to the resize it reports (to 3, not the earlier one to 2).
  ASSERT_EQ(status(0, {{"generation", g1}, {"rescale", {{"from", 2}, {"to", 3}, {"pause_ms", 37.5}}}}).status, 200);
  j = Job(id);
  ASSERT_EQ(j.json["rescales"].size(), 2u) << j.body;
  EXPECT_TRUE(j.json["rescales"][0]["pause_ms"].is_null());
  EXPECT_EQ(j.json["rescales"][1]["pause_ms"], 37.5);

  // Rank 1 falls silent: the job carries on without it (the scheduler may then
  // grow it again with a new rank) and its agent stops it.
  int pid1 = 0;
  for (const json& w : j.json["worker_list"]) {
    if (w["rank"] == 1) pid1 = w["pid"];
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    beating.erase(1);
  }
  auto has_rank_1 = [&] {
    j = Job(id);
    for (const json& w : j.json["worker_list"]) {
      if (w["rank"] == 1) return true;
    }
    return false;
  };
  ASSERT_TRUE(LocalCluster::WaitFor([&] { return !has_rank_1(); }, 5)) << j.body;
  EXPECT_EQ(j.json["state"], "RUNNING");
  // Silent for over 1 s when a scheduler tick (every second) saw it. Events are
  // read from the store, which the change reaches a moment after memory: wait for it.
  EXPECT_TRUE(LocalCluster::WaitFor([&] {
    j = Job(id);
    return j.json["events"].dump().find("sent no heartbeat for ") != std::string::npos;
  }, 5)) << j.json["events"].dump();
  EXPECT_NE(j.json["events"].dump().find("worker 1 on host-"), std::string::npos) << j.json["events"].dump();
  EXPECT_TRUE(LocalCluster::WaitFor([&] { return !Alive(pid1); }, 15)) << "worker " << pid1 << " still runs";
  EXPECT_EQ(status(1, {{"generation", g1}}).status, 404);
}

}  // namespace
}  // namespace drover::e2e

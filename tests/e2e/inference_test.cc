// End to end: inference deployments on a real server and agent, with real
// drover-serve replicas of the Fashion-MNIST CNN (exported to TorchScript by
// bench/infer/export_cnn.py with Debian's python3-torch), called through the
// server's inference router while clients keep it under load.
#include <signal.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <httplib.h>

#include "tests/e2e/cluster.h"

namespace drover::e2e {
namespace {

using json = nlohmann::json;

// One 1x1x28x28 image.
std::string Body() {
  std::string data;
  for (int i = 0; i < 784; ++i) data += (i ? "," : "") + std::to_string((i % 17) / 17.0);
  return R"({"inputs":[{"name":"input","shape":[1,1,28,28],"datatype":"FP32","data":[)" + data + "]}]}";
}

// Clients calling a model in a loop until stopped, counting answers by kind.
class Load {
 public:
  Load(int port, std::string path, std::string token, int clients) {
    for (int i = 0; i < clients; ++i) {
      threads_.emplace_back([this, port, path, token] {
        httplib::Client c("127.0.0.1", port);
        c.set_read_timeout(std::chrono::seconds(60));
        c.set_keep_alive(true);
        const httplib::Headers auth{{"Authorization", "Bearer " + token}};
        const std::string body = Body();
        while (!stop_) {
          httplib::Result r = c.Post(path, auth, body, "application/json");
          if (r && r->status == 200 && r->body.find("\"outputs\"") != std::string::npos) {
            ++ok_;
          } else {
            ++failed_;
            std::lock_guard<std::mutex> lock(mu_);
            if (first_failure_.empty()) first_failure_ = r ? std::to_string(r->status) + " " + r->body : "no answer";
          }
        }
      });
    }
  }
  ~Load() { Stop(); }
  void Stop() {
    stop_ = true;
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }
  int ok() const { return ok_; }
  int failed() const { return failed_; }
  std::string first_failure() {
    std::lock_guard<std::mutex> lock(mu_);
    return first_failure_;
  }

 private:
  std::vector<std::thread> threads_;
  std::atomic<bool> stop_{false};
  std::atomic<int> ok_{0}, failed_{0};
  std::mutex mu_;
  std::string first_failure_;
};

class InferenceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    cluster_ = std::make_unique<LocalCluster>(DROVER_BINARY, ::testing::TempDir() + "/drover-e2e-inf-" + name);
    cluster_->AddServerArgs({"--inference-port", "0", "--serve-binary", DROVER_SERVE_BINARY});
    ASSERT_TRUE(cluster_->Start(1, 4, /*heartbeat_timeout=*/30)) << "see " << cluster_->dir() << "/*.log";
    model_ = cluster_->dir() + "/fmnist.pt";
    const std::string export_cmd = std::string("/usr/bin/python3 ") + DROVER_SOURCE_DIR + "/bench/infer/export_cnn.py " +
                                   model_ + " > " + cluster_->dir() + "/export.log 2>&1";
    ASSERT_EQ(std::system(export_cmd.c_str()), 0) << "see " << cluster_->dir() << "/export.log";
  }
  void TearDown() override {
    std::string dir = cluster_ ? cluster_->dir() : "";
    cluster_.reset();
    if (!HasFailure() && !dir.empty()) std::filesystem::remove_all(dir);
  }
  // Deploys `fmnist` with these replicas and autoscale settings; returns the router's port.
  int Deploy(const std::string& replicas, const std::string& autoscale, const std::string& consumer = "/") {
    const std::string yaml = "name: fmnist\nconsumer: " + consumer + "\nmodel:\n  path: " + model_ +
                             "\n  input: {shape: [1, 28, 28]}\nreplicas: " + replicas +
                             "\nresources: {gpus: 1, cpus: 1, memory: 512Mi}\n"
                             "batching: {max_batch_size: 8, max_queue_delay_us: 500}\nautoscale: " + autoscale + "\n";
    HttpReply r = cluster_->Call("POST", "/api/v1/deployments?file=dep.yaml", yaml);
    EXPECT_EQ(r.status, 201) << r.body;
    const std::string url = r.json.value("url", "");
    return std::atoi(url.substr(url.rfind(':') + 1).c_str());
  }
  json Deployment() { return cluster_->Call("GET", "/api/v1/deployments/fmnist").json; }
  // Waits until the deployment has `n` ready replicas and wants no more; its state then.
  json WaitReady(int n, double seconds) {
    json d;
    EXPECT_TRUE(LocalCluster::WaitFor([&] {
      d = Deployment();
      return d["replicas"].value("ready", -1) == n && d["replicas"].value("desired", -1) == n;
    }, seconds)) << d.dump();
    return d;
  }
  bool HasEvent(const json& d, int from, int to) {
    for (const json& e : d["events"]) {
      if (e["from"] == from && e["to"] == to) return true;
    }
    return false;
  }
  std::unique_ptr<LocalCluster> cluster_;
  std::string model_;
};

TEST_F(InferenceTest, AtZeroTheFirstRequestIsHeldAndALoadStepScalesUpThenDown) {
  const int port = Deploy("{min: 0, max: 2}",
                          "{target_in_flight: 1, window: 2s, upscale_delay: 0s, downscale_delay: 2s, scale_to_zero_after: 10s}");
  ASSERT_GT(port, 0);
  EXPECT_EQ(Deployment()["replicas"]["ready"], 0);
  // The first request waits for a replica to start and warm up, and is answered.
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(std::chrono::seconds(60));
  httplib::Result first = c.Post("/v2/models/fmnist/infer", {{"Authorization", "Bearer " + cluster_->admin_token()}},
                                 Body(), "application/json");
  ASSERT_TRUE(first);
  ASSERT_EQ(first->status, 200) << first->body;
  EXPECT_EQ(json::parse(first->body)["outputs"][0]["shape"], json::parse("[1, 10]"));
  // Bad input is refused by the replica with the protocol's error, through the router.
  httplib::Result bad = c.Post("/v2/models/fmnist/infer", {{"Authorization", "Bearer " + cluster_->admin_token()}},
                               R"({"inputs":[{"name":"input","shape":[1,1,28,27],"datatype":"FP32","data":[]}]})",
                               "application/json");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_NE(bad->body.find("the model takes [N, 1, 28, 28]"), std::string::npos) << bad->body;
  // Without a token nobody may call it.
  httplib::Result anonymous = c.Post("/v2/models/fmnist/infer", Body(), "application/json");
  ASSERT_TRUE(anonymous);
  EXPECT_EQ(anonymous->status, 401);

  // A load step: four clients keep 4 requests in flight, 1 per replica wanted: up to the maximum, 2.
  {
    Load load(port, "/v2/models/fmnist/infer", cluster_->admin_token(), 4);
    json d = WaitReady(2, 60);
    EXPECT_TRUE(HasEvent(d, 1, 2)) << d["events"].dump();
    EXPECT_TRUE(LocalCluster::WaitFor([&] { return load.ok() > 200; }, 30));
    load.Stop();
    EXPECT_EQ(load.failed(), 0) << load.first_failure();
    std::printf("load step: %d requests answered, %d failed\n", load.ok(), load.failed());
  }
  // The load gone: back down to one after the downscale delay, then to zero after scale_to_zero_after.
  json d;
  EXPECT_TRUE(LocalCluster::WaitFor([&] {
    d = Deployment();
    return HasEvent(d, 2, 1) && d["replicas"]["desired"] == 0 && d["job"].is_null();
  }, 60)) << d.dump();
  for (const json& e : d["events"]) std::printf("  %d -> %d  %s\n", e["from"].get<int>(), e["to"].get<int>(), e["reason"].get<std::string>().c_str());
}

TEST_F(InferenceTest, AReplicaKilledUnderLoadCostsAtMostWhatItHeldAndIsReplaced) {
  const int port = Deploy("{min: 2, max: 2}", "{target_in_flight: 8}");
  ASSERT_GT(port, 0);
  json d = WaitReady(2, 60);
  const uint64_t job = d["job"];
  const int clients = 4;
  Load load(port, "/v2/models/fmnist/infer", cluster_->admin_token(), clients);
  ASSERT_TRUE(LocalCluster::WaitFor([&] { return load.ok() > 100; }, 30));
  json workers = cluster_->Call("GET", "/api/v1/jobs/" + std::to_string(job)).json["worker_list"];
  ASSERT_EQ(workers.size(), 2u);
  const pid_t victim = workers[1]["pid"].get<pid_t>();
  ASSERT_GT(victim, 0);
  ASSERT_EQ(::kill(victim, SIGKILL), 0);
  const int answered_at_kill = load.ok();
  // Replaced: two ready replicas again, and requests still answered.
  EXPECT_TRUE(LocalCluster::WaitFor([&] {
    json w = cluster_->Call("GET", "/api/v1/jobs/" + std::to_string(job)).json["worker_list"];
    json now = Deployment();
    return now["replicas"]["ready"] == 2 && w.size() == 2 && w[0]["pid"] != victim && w[1]["pid"] != victim;
  }, 90)) << Deployment().dump();
  EXPECT_TRUE(LocalCluster::WaitFor([&] { return load.ok() > answered_at_kill + 100; }, 30));
  load.Stop();
  // At most the requests the killed replica held, each retried once on the other replica.
  EXPECT_LE(load.failed(), clients) << load.first_failure();
  d = Deployment();
  std::printf("replica killed under load: %d answered, %d failed, %llu retried on the other replica\n", load.ok(),
              load.failed(), static_cast<unsigned long long>(d["retried"].get<uint64_t>()));
}

TEST_F(InferenceTest, AnOwnerReclaimingBorrowedGpusDrainsAReplicaWithoutAFailedRequest) {
  // One 4-slot host: alpha owns 3, beta 1. beta's deployment wants 2 replicas
  // under load, so it borrows one of alpha's idle GPUs; alpha then claims all 3.
  ASSERT_EQ(cluster_->Call("PUT", "/api/v1/plan",
                           "consumers:\n  - name: alpha\n    owned: 3\n    reclaim_grace: 1\n"
                           "  - name: beta\n    owned: 1\n    reclaim_grace: 1\n")
                .status,
            200);
  const int port = Deploy("{min: 1, max: 2}", "{target_in_flight: 1, window: 2s, downscale_delay: 1h}", "/beta");
  ASSERT_GT(port, 0);
  Load load(port, "/v2/models/fmnist/infer", cluster_->admin_token(), 4);
  json d = WaitReady(2, 60);
  const int before = load.ok();
  const uint64_t alpha = cluster_->Submit("name: claim\nconsumer: /alpha\nworkers: 3\n"
                                          "resources: {gpus: 1, cpus: 0.1, memory: 64Mi}\ncommand: [sleep, \"300\"]\n");
  ASSERT_GT(alpha, 0u);
  // alpha's job runs once beta's borrowed replica has drained and stopped.
  EXPECT_TRUE(cluster_->WaitState(alpha, "RUNNING", 60)) << cluster_->JobState(alpha);
  d = Deployment();
  EXPECT_EQ(d["replicas"]["ready"], 1) << d.dump();
  EXPECT_TRUE(LocalCluster::WaitFor([&] { return load.ok() > before + 100; }, 30));
  load.Stop();
  EXPECT_EQ(load.failed(), 0) << load.first_failure();
  std::printf("reclaim under load: %d answered, %d failed, %llu retried\n", load.ok(), load.failed(),
              static_cast<unsigned long long>(d["retried"].get<uint64_t>()));
}

TEST_F(InferenceTest, ABadDeploymentIsRefusedWithItsLineAndAnotherTenantCannotSeeOrCallIt) {
  HttpReply bad = cluster_->Call("POST", "/api/v1/deployments?file=dep.yaml",
                                 "name: fmnist\nmodel:\n  path: models/a.pt\n  input: {shape: [4]}\nreplicas: 1\n");
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.find("dep.yaml:3: model.path"), std::string::npos) << bad.body;
  EXPECT_EQ(cluster_->Call("GET", "/api/v1/deployments").json["deployments"].size(), 0u);

  ASSERT_EQ(cluster_->Call("PUT", "/api/v1/plan", "consumers:\n  - name: a\n    owned: 2\n  - name: b\n    owned: 2\n").status, 200);
  HttpReply bob = cluster_->Call("POST", "/api/v1/users", R"({"name":"bob","consumers":["/b"]})");
  ASSERT_EQ(bob.status, 201) << bob.body;
  const std::string bob_token = bob.json["token"];
  const int port = Deploy("{min: 1, max: 1}", "{target_in_flight: 8}", "/a");
  WaitReady(1, 60);
  EXPECT_EQ(cluster_->Call("GET", "/api/v1/deployments/fmnist", "", bob_token).status, 404);
  EXPECT_EQ(cluster_->Call("GET", "/api/v1/deployments", "", bob_token).json["deployments"].size(), 0u);
  EXPECT_EQ(cluster_->Call("DELETE", "/api/v1/deployments/fmnist", "", bob_token).status, 404);
  httplib::Client c("127.0.0.1", port);
  httplib::Result r = c.Post("/v2/models/fmnist/infer", {{"Authorization", "Bearer " + bob_token}}, Body(), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404) << r->body;
  // The owner's side: undeploying stops the replicas.
  const uint64_t job = Deployment()["job"];
  EXPECT_EQ(cluster_->Call("DELETE", "/api/v1/deployments/fmnist").status, 200);
  EXPECT_TRUE(cluster_->WaitState(job, "CANCELLED", 30)) << cluster_->JobState(job);
  r = c.Post("/v2/models/fmnist/infer", {{"Authorization", "Bearer " + cluster_->admin_token()}}, Body(), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
}

}  // namespace
}  // namespace drover::e2e

#include "agent/protocol.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "agent/http_server_client.h"

namespace drover::agent {
namespace {

using nlohmann::json;

TEST(ProtocolTest, DecodesTheDocumentedSyncResponse) {
  auto res = DecodeSyncResponse(R"({"workers": [
     {"job": 12, "rank": 0, "generation": 3, "argv": ["/bin/sh", "-c", "python3 train.py"],
      "env": {"DROVER_JOB_ID": "12", "RANK": "0", "CUDA_VISIBLE_DEVICES": "0"},
      "gpus": [0]}],
    "kill_grace_s": 10})");
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  ASSERT_EQ(res->workers.size(), 1u);
  const DesiredWorker& w = res->workers[0];
  EXPECT_EQ(w.key, (WorkerKey{12, 0, 3}));
  EXPECT_EQ(w.argv, (std::vector<std::string>{"/bin/sh", "-c", "python3 train.py"}));
  EXPECT_EQ(w.env.at("CUDA_VISIBLE_DEVICES"), "0");
  EXPECT_EQ(w.gpus, std::vector<int>{0});
  EXPECT_EQ(res->kill_grace_s, 10);
}

TEST(ProtocolTest, SyncResponseErrorsNameTheField) {
  struct Case {
    const char* body;
    const char* message;
  };
  const Case cases[] = {
      {"not json", "sync response: not valid JSON"},
      {"[]", "sync response: not a JSON object"},
      {"{}", "sync response: workers: missing or not an array"},
      {R"({"workers": [{"rank": 0, "generation": 1, "argv": ["x"]}]})",
       "sync response: workers[0].job: missing"},
      {R"({"workers": [{"job": -1, "rank": 0, "generation": 1, "argv": ["x"]}]})",
       "sync response: workers[0].job: not a non-negative integer"},
      {R"({"workers": [{"job": 1, "rank": 0, "generation": 1, "argv": []}]})",
       "sync response: workers[0].argv: not a non-empty array"},
      {R"({"workers": [{"job": 1, "rank": 0, "generation": 1, "argv": ["x", 2]}]})",
       "sync response: workers[0].argv[1]: not a string"},
      {R"({"workers": [{"job": 1, "rank": 0, "generation": 1, "argv": ["x"], "env": {"A": 1}}]})",
       "sync response: workers[0].env.A: not a string"},
      {R"({"workers": [], "kill_grace_s": "soon"})",
       "sync response: kill_grace_s: not a non-negative number"},
  };
  for (const Case& c : cases) {
    auto res = DecodeSyncResponse(c.body);
    ASSERT_FALSE(res.ok()) << c.body;
    EXPECT_EQ(res.status().code(), StatusCode::kInternal);
    EXPECT_EQ(res.status().message(), c.message);
  }
}

TEST(ProtocolTest, DecodesRegisterResponse) {
  auto res = DecodeRegisterResponse(
      R"({"host": "host-a", "agent_token": "t0k", "heartbeat_timeout_s": 10})");
  ASSERT_TRUE(res.ok());
  EXPECT_EQ(res->host, "host-a");
  EXPECT_EQ(res->agent_token, "t0k");
  EXPECT_EQ(res->heartbeat_timeout_s, 10);
  EXPECT_EQ(DecodeRegisterResponse(R"({"host": "host-a"})").status().message(),
            "register response: agent_token: missing or not a non-empty string");
}

TEST(ProtocolTest, EncodesSyncRequest) {
  SyncRequest req{"host-a",
                  1000,
                  {WorkerReport{{12, 0, 3}, 4242, WorkerState::kRunning},
                   WorkerReport{{9, 1, 1}, 4100, WorkerState::kExited, 137, 9}},
                  {LogChunk{{12, 0, 3}, 0, "epoch 1 loss 0.53\n"}}};
  json j = json::parse(EncodeSyncRequest(req));
  EXPECT_EQ(j, json::parse(R"({"host": "host-a", "wait_ms": 1000,
    "workers": [{"job": 12, "rank": 0, "generation": 3, "pid": 4242, "state": "running"},
                {"job": 9, "rank": 1, "generation": 1, "pid": 4100, "state": "exited", "exit_code": 137, "signal": 9}],
    "logs": [{"job": 12, "rank": 0, "generation": 3, "offset": 0, "data": "epoch 1 loss 0.53\n"}]})"));
}

TEST(ProtocolTest, EncodesRegisterRequest) {
  RegisterRequest req{"host-a", {GpuInfo{0, "GPU-1", "NVIDIA H200", 143771}}, 1, 16, 131072,
                      "0.1.0"};
  EXPECT_EQ(json::parse(EncodeRegisterRequest(req)), json::parse(R"({"name": "host-a",
    "gpus": [{"index": 0, "uuid": "GPU-1", "name": "NVIDIA H200", "memory_mib": 143771}],
    "gpu_slots": 1, "cpus": 16, "memory_mib": 131072, "version": "0.1.0"})"));
}

TEST(HttpServerClientTest, ParsesServerUrls) {
  auto url = net::ParseServerUrl("https://drover.example.com:8443/prefix/");
  ASSERT_TRUE(url.ok());
  EXPECT_EQ(url->scheme, "https");
  EXPECT_EQ(url->host_port, "drover.example.com:8443");
  EXPECT_EQ(url->path_prefix, "/prefix");
  url = net::ParseServerUrl("http://127.0.0.1:8080");
  ASSERT_TRUE(url.ok());
  EXPECT_EQ(url->host_port, "127.0.0.1:8080");
  EXPECT_EQ(url->path_prefix, "");
  for (const char* bad : {"127.0.0.1:8080", "ftp://host", "http://", "http://host?x=1"}) {
    EXPECT_EQ(net::ParseServerUrl(bad).status().code(), StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_TRUE(
      HttpServerClient::Create("http://127.0.0.1:1", {}).ok());  // no connection until a call
}

TEST(HttpServerClientTest, MapsHttpStatuses) {
  struct Case {
    const char* call;
    int http;
    StatusCode code;
  };
  const Case cases[] = {
      {"sync", 200, StatusCode::kOk},
      {"sync", 401, StatusCode::kUnauthenticated},
      {"sync", 404, StatusCode::kNotFound},
      {"sync", 503, StatusCode::kUnavailable},
      {"sync", 429, StatusCode::kUnavailable},
      {"sync", 400, StatusCode::kInvalidArgument},
      {"register", 403, StatusCode::kPermissionDenied},
      {"register", 409, StatusCode::kInternal},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(net::StatusFromHttp(c.call, c.http, "").code(), c.code) << c.call << " " << c.http;
  }
  EXPECT_EQ(net::StatusFromHttp("register", 400, R"({"error": "name: empty"})").message(),
            "register: HTTP 400: name: empty");
}

}  // namespace
}  // namespace drover::agent

#include "api/wire.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace drover::api {
namespace {

using nlohmann::json;

SyncRequest ASyncRequest() {
  return {"host-a",
          1000,
          {WorkerReport{{12, 0, 3}, 4242, ProcessState::kRunning},
           WorkerReport{{12, 1, 3}, 4243, ProcessState::kStopping},
           WorkerReport{{9, 1, 1}, 4100, ProcessState::kExited, 137, 9, true}},
          {LogChunk{{12, 0, 3}, 10, "epoch 1 loss 0.53\n"}},
          false};
}

// Each message survives its own codec: what one side encodes, the other decodes to the same value.
TEST(WireTest, EveryMessageRoundTrips) {
  RegisterRequest reg{"host-a", {GpuInfo{0, "GPU-1", "NVIDIA H200", 143771}}, 1, 16, 131072, "0.1.0", ""};
  EXPECT_EQ(*DecodeRegisterRequest(Encode(reg)), reg);
  reg.previous_token = "drv_a_old";
  EXPECT_EQ(*DecodeRegisterRequest(Encode(reg)), reg);
  RegisterResponse rr{"host-a", "a.t0k", 7};
  EXPECT_EQ(*DecodeRegisterResponse(Encode(rr)), rr);
  SyncRequest sync = ASyncRequest();
  EXPECT_EQ(*DecodeSyncRequest(Encode(sync)), sync);
  sync.leaving = true;
  EXPECT_EQ(*DecodeSyncRequest(Encode(sync)), sync);
  SyncResponse resp{{DesiredWorker{{12, 0, 3}, {"/bin/sh", "-c", "train"}, {{"RANK", "0"}}, {0, 2}, 500, 1024, "team-a"}}, 10};
  EXPECT_EQ(*DecodeSyncResponse(Encode(resp)), resp);
  WorkerStatus st;
  st.generation = 3;
  st.ready = true;
  st.step = 123;
  st.epoch = 0;
  st.loss = 0.53;
  st.samples_per_s = 1234.5;
  st.samples_left = 6e5;
  st.world_size = 2;
  st.port = 8001;
  st.rescale = WorkerStatus::Rescale{4, 2, 37.5};
  st.regroup = true;
  st.perf = StepPerf{40, 256, 128, 0.125, 0.1, 8.5, 5.25, 1024};
  EXPECT_EQ(*DecodeWorkerStatus(Encode(st)), st);
  Membership m{7, JobState::kRunning, 4,
               {Member{0, 4, "h0", "10.0.0.1", WorkerState::kRunning, true},
                Member{1, 2, "h1", "10.0.0.2", WorkerState::kExited, false}}};
  EXPECT_EQ(*DecodeMembership(Encode(m)), m);
}

// The round trip above is only worth something if a changed field is seen.
TEST(WireTest, NegativeControlRoundTripSeesAChangedField) {
  SyncRequest sync = ASyncRequest();
  std::string text = Encode(sync);
  sync.workers[2].exit_code = 1;
  EXPECT_NE(*DecodeSyncRequest(text), sync);
  WorkerStatus st;
  st.generation = 3;
  st.rescale = WorkerStatus::Rescale{4, 2, 37.5};
  text = Encode(st);
  st.rescale->pause_ms = 37.25;
  EXPECT_NE(*DecodeWorkerStatus(text), st);
  st.perf = StepPerf{40, 256, 128, 0.125, 0.1, 8.5, 5.25};
  text = Encode(st);
  st.perf->compute_s = 0.11;
  EXPECT_NE(*DecodeWorkerStatus(text), st);
}

TEST(WireTest, EncodesTheDocumentedSyncRequest) {
  EXPECT_EQ(json::parse(Encode(ASyncRequest())), json::parse(R"({"host": "host-a", "wait_ms": 1000,
    "workers": [{"job": 12, "rank": 0, "generation": 3, "pid": 4242, "state": "running"},
                {"job": 12, "rank": 1, "generation": 3, "pid": 4243, "state": "stopping"},
                {"job": 9, "rank": 1, "generation": 1, "pid": 4100, "state": "exited", "exit_code": 137, "signal": 9,
                 "oom_killed": true}],
    "logs": [{"job": 12, "rank": 0, "generation": 3, "offset": 10, "data": "epoch 1 loss 0.53\n"}]})"));
}

TEST(WireTest, DecodesTheDocumentedSyncResponse) {
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

TEST(WireTest, SyncRequestClampsTheWaitAndDefaultsWhatIsOptional) {
  auto r = DecodeSyncRequest(R"({"wait_ms": 99999, "logs": [{"job": 3, "rank": 1, "data": "hi\n"}]})");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->wait_ms, kMaxSyncWaitMs);
  EXPECT_TRUE(r->workers.empty());
  ASSERT_EQ(r->logs.size(), 1u);
  EXPECT_EQ(r->logs[0].offset, 0u);
  EXPECT_EQ(DecodeSyncRequest("{}")->wait_ms, 1000);
}

struct Bad {
  const char* body;
  const char* error;
};

class BadSyncRequestTest : public ::testing::TestWithParam<Bad> {};

TEST_P(BadSyncRequestTest, NamesTheField) {
  auto r = DecodeSyncRequest(GetParam().body);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(), GetParam().error);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, BadSyncRequestTest,
    ::testing::Values(Bad{"[]", "body: expected a JSON object"}, Bad{"not json", "body: expected a JSON object"},
                      Bad{R"({"workers":{}})", "workers: expected a list"},
                      Bad{R"({"workers":[7]})", "workers[0]: expected an object"},
                      Bad{R"({"workers":[{"job":1,"rank":0,"generation":1,"state":"dead"}]})",
                          "workers[0].state: expected running, stopping or exited"},
                      Bad{R"({"workers":[{"job":-1,"rank":0,"generation":1,"state":"running"}]})",
                          "workers[0].job: expected an integer from 0 to 9223372036854775807"},
                      Bad{R"({"workers":[{"rank":0,"generation":1,"state":"running"}]})", "workers[0].job: required"},
                      Bad{R"({"workers":[{"job":1,"rank":0,"state":"running"}]})",
                          "workers[0].generation: required"},
                      Bad{R"({"workers":[{"job":1,"rank":0,"generation":1,"state":"exited","exit_code":300}]})",
                          "workers[0].exit_code: expected an integer from 0 to 255"},
                      Bad{R"({"logs":[{"job":1,"rank":0}]})", "logs[0].data: required"},
                      Bad{R"({"leaving":"yes"})", "leaving: expected true or false"},
                      Bad{R"({"wait_ms":"soon"})", "wait_ms: expected an integer from 0 to 2147483647"}));

TEST(WireTest, SyncResponseErrorsNameTheFieldAsAServerBug) {
  const Bad cases[] = {
      {"not json", "sync response: body: expected a JSON object"},
      {"{}", "sync response: workers: required"},
      {R"({"workers": [{"rank": 0, "generation": 1, "argv": ["x"]}]})", "sync response: workers[0].job: required"},
      {R"({"workers": [{"job": -1, "rank": 0, "generation": 1, "argv": ["x"]}]})",
       "sync response: workers[0].job: expected an integer from 0 to 9223372036854775807"},
      {R"({"workers": [{"job": 1, "rank": 0, "generation": 1, "argv": []}]})",
       "sync response: workers[0].argv: expected a non-empty list"},
      {R"({"workers": [{"job": 1, "rank": 0, "generation": 1, "argv": ["x", 2]}]})",
       "sync response: workers[0].argv[1]: expected a string"},
      {R"({"workers": [{"job": 1, "rank": 0, "generation": 1, "argv": ["x"], "env": {"A": 1}}]})",
       "sync response: workers[0].env.A: expected a string"},
      {R"({"workers": [{"job": 1, "rank": 0, "generation": 1, "argv": ["x"], "env": {"A=B": "1"}}]})",
       "sync response: workers[0].env.A=B: not a variable name"},
      {R"({"workers": [{"job": 1, "rank": 0, "generation": 1, "argv": ["x"], "gpus": [-1]}]})",
       "sync response: workers[0].gpus[0]: expected a GPU index from 0 to 65536"},
      {R"({"workers": [], "kill_grace_s": "soon"})",
       "sync response: kill_grace_s: expected an integer from 0 to 86400"},
  };
  for (const Bad& c : cases) {
    auto res = DecodeSyncResponse(c.body);
    ASSERT_FALSE(res.ok()) << c.body;
    EXPECT_EQ(res.status().code(), StatusCode::kInternal);
    EXPECT_EQ(res.status().message(), c.error);
  }
}

TEST(WireTest, RegistrationChecksEveryCount) {
  auto h = DecodeRegisterRequest(R"({"name":"gpu-01","gpu_slots":4,"cpus":16,"memory_mib":65536,"gpus":[]})");
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(h->gpu_slots, 4);
  EXPECT_EQ(h->cpus, 16);
  auto error = [](const char* body) { return DecodeRegisterRequest(body).status().message(); };
  EXPECT_EQ(error(R"({"name":""})"), "name: expected a non-empty string of at most 253 characters");
  EXPECT_EQ(error(R"({"gpu_slots":1})"), "name: required");
  EXPECT_EQ(error(R"({"name":"x","gpu_slots":-4})"), "gpu_slots: expected an integer from 0 to 65536");
  EXPECT_EQ(error(R"({"name":"x","gpus":[{"uuid":"GPU-1"}]})"), "gpus[0].index: required");
  EXPECT_EQ(error(R"({"name":"x","gpus":[{"index":0,"uuid":7}]})"), "gpus[0].uuid: expected a string");
  EXPECT_EQ(DecodeRegisterResponse(R"({"host": "host-a"})").status().message(),
            "register response: agent_token: required");
  EXPECT_EQ(DecodeRegisterResponse(R"({"agent_token": "t", "heartbeat_timeout_s": 0})").status().message(),
            "register response: heartbeat_timeout_s: expected an integer from 1 to 86400");
}

TEST(WireTest, WorkerStatusNeedsOnlyItsGeneration) {
  // Null is "not reported" (a NaN loss is encoded as null).
  auto s = DecodeWorkerStatus(R"({"generation":1,"loss":null})");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_FALSE(s->ready);
  EXPECT_FALSE(s->loss);
  EXPECT_FALSE(s->rescale);
  WorkerStatus nan;
  nan.generation = 2;
  nan.loss = std::numeric_limits<double>::quiet_NaN();
  EXPECT_FALSE(DecodeWorkerStatus(Encode(nan))->loss);
}

TEST(WireTest, WorkerStatusNamesTheBadField) {
  auto error = [](const char* body) { return DecodeWorkerStatus(body).status().message(); };
  EXPECT_EQ(error("[]"), "body: expected a JSON object");
  EXPECT_EQ(error(R"({"step":1})"),
            "generation: required: the membership generation the worker has joined, an integer from 0");
  EXPECT_EQ(error(R"({"generation":1,"ready":"yes"})"), "ready: expected true or false");
  EXPECT_EQ(error(R"({"generation":1,"step":-1})"), "step: expected an integer from 0 to 9223372036854775807");
  EXPECT_EQ(error(R"({"generation":1,"loss":"low"})"), "loss: expected a number");
  EXPECT_EQ(error(R"({"generation":1,"samples_left":-5})"), "samples_left: expected a number of samples, at least 0");
  EXPECT_EQ(error(R"({"generation":1,"rescale":{"from":4,"pause_ms":3}})"),
            "rescale.to: required: the number of workers after the resize");
  EXPECT_EQ(error(R"({"generation":1,"rescale":{"from":4,"to":2,"pause_ms":"3"}})"),
            "rescale.pause_ms: expected a number");
  const std::string perf = R"({"generation":1,"perf":{"steps":3,"global_batch":64,"local_batch":32,)";
  EXPECT_EQ(error((perf + R"("step_s":0.1,"compute_s":0.2}})").c_str()), "perf.compute_s: cannot exceed perf.step_s");
  EXPECT_EQ(error((perf + R"("step_s":-1,"compute_s":0.2}})").c_str()), "perf.step_s: required: a number above 0");
  EXPECT_EQ(error((perf + R"("step_s":1,"compute_s":0.2,"local_grad_sqr":-2}})").c_str()),
            "perf.local_grad_sqr: expected a number of at least 0");
  EXPECT_EQ(error(R"({"generation":1,"perf":{"steps":0}})"), "perf.steps: required: the number of steps measured, at least 1");
  EXPECT_EQ(error((perf + R"("step_s":1,"compute_s":0.2,"max_batch":32}})").c_str()),
            "perf.max_batch: expected a number of at least perf.global_batch");
}

TEST(WireTest, MembershipRanksSkipExitedMembers) {
  Membership m{7, JobState::kRunning, 4,
               {Member{0, 4, "h0", "", WorkerState::kRunning, true}, Member{1, 2, "h1", "", WorkerState::kExited, false},
                Member{2, 4, "h1", "", WorkerState::kAssigned, true}}};
  EXPECT_EQ(m.RankOf(0), 0);
  EXPECT_EQ(m.RankOf(1), -1);
  EXPECT_EQ(m.RankOf(2), 1);
  EXPECT_TRUE(m.AllReady());
  m.members[2].ready = false;
  EXPECT_FALSE(m.AllReady());
  EXPECT_FALSE(m.Terminal());
  m.job_state = JobState::kPreempted;
  EXPECT_TRUE(m.Terminal());
  EXPECT_EQ(DecodeMembership(R"({"generation": 1, "state": "BOGUS", "members": []})").status().message(),
            "members response: state: not a job state: BOGUS");
  EXPECT_EQ(DecodeMembership(R"({"generation": 1, "state": "RUNNING", "members": [{"rank": 0, "state": "gone"}]})")
                .status()
                .message(),
            "members response: members[0].state: not a worker state: gone");
}

}  // namespace
}  // namespace drover::api

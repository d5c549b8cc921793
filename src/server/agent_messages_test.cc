#include "server/agent_messages.h"

#include <gtest/gtest.h>

namespace drover::server {
namespace {

TEST(AgentMessagesTest, SyncReportDecodes) {
  auto r = DecodeSyncReport(R"({"host":"h","wait_ms":99999,
      "workers":[{"job":3,"rank":1,"generation":2,"pid":77,"state":"exited","exit_code":0,"signal":9},
                 {"job":3,"rank":0,"generation":2,"pid":76,"state":"stopping"}],
      "logs":[{"job":3,"rank":1,"offset":10,"data":"hi\n"}]})");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->wait_ms, 30000);
  ASSERT_EQ(r->workers.size(), 2u);
  EXPECT_TRUE(r->workers[0].exited);
  EXPECT_EQ(r->workers[0].signal, 9);
  EXPECT_TRUE(r->workers[1].stopping);
  ASSERT_EQ(r->logs.size(), 1u);
  EXPECT_EQ(r->logs[0].offset, 10u);
}

struct Bad {
  const char* body;
  const char* error;
};

class BadSyncTest : public ::testing::TestWithParam<Bad> {};

TEST_P(BadSyncTest, NamesTheField) {
  auto r = DecodeSyncReport(GetParam().body);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), GetParam().error);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, BadSyncTest,
    ::testing::Values(Bad{"[]", "body: expected a JSON object"},
                      Bad{R"({"workers":{}})", "workers: expected a list"},
                      Bad{R"({"workers":[{"job":1,"rank":0,"generation":1,"state":"dead"}]})",
                          "workers[0].state: expected running, stopping or exited"},
                      Bad{R"({"workers":[{"job":-1,"rank":0,"generation":1,"state":"running"}]})",
                          "workers[0]: job: expected an integer from 0 to 9223372036854775807"},
                      Bad{R"({"workers":[{"rank":0,"generation":1,"state":"running"}]})",
                          "workers[0]: job, rank and generation are required"},
                      Bad{R"({"logs":[{"job":1,"rank":0}]})", "logs[0]: expected {job, rank, offset, data}"},
                      Bad{R"({"wait_ms":"soon"})", "wait_ms: expected an integer from 0 to 2147483647"}));

TEST(AgentMessagesTest, RegistrationChecksEveryCount) {
  auto h = DecodeRegistration(R"({"name":"gpu-01","gpu_slots":4,"cpus":16,"memory_mib":65536,"gpus":[]})");
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(h->capacity.gpus, 4);
  EXPECT_EQ(h->capacity.cpu_millis, 16000);
  EXPECT_EQ(DecodeRegistration(R"({"name":""})").status().message(),
            "name: expected a non-empty string of at most 253 characters");
  EXPECT_EQ(DecodeRegistration(R"({"name":"x","gpu_slots":-4})").status().message(),
            "gpu_slots: expected an integer from 0 to 65536");
}

TEST(AgentMessagesTest, WorkerStatusDecodes) {
  auto s = DecodeWorkerStatus(R"({"generation":3,"ready":true,"step":123,"epoch":0,"loss":0.53,
      "samples_per_s":1234.5,"world_size":2,"rescale":{"from":4,"to":2,"pause_ms":37.5}})");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->generation, 3);
  EXPECT_TRUE(s->ready);
  EXPECT_EQ(s->step, 123);
  EXPECT_EQ(s->epoch, 0);
  EXPECT_DOUBLE_EQ(*s->loss, 0.53);
  EXPECT_EQ(s->world_size, 2);
  ASSERT_TRUE(s->rescale);
  EXPECT_EQ(s->rescale->to, 2);
  EXPECT_DOUBLE_EQ(*s->rescale->pause_ms, 37.5);
  // Only the generation is required; null is "not reported" (a NaN loss serialises as null).
  s = DecodeWorkerStatus(R"({"generation":1,"loss":null})");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_FALSE(s->ready);
  EXPECT_FALSE(s->loss);
  EXPECT_FALSE(s->rescale);
}

TEST(AgentMessagesTest, WorkerStatusNamesTheBadField) {
  auto error = [](const char* body) { return DecodeWorkerStatus(body).status().message(); };
  EXPECT_EQ(error("[]"), "body: expected a JSON object");
  EXPECT_EQ(error(R"({"step":1})"),
            "generation: required: the membership generation the worker has joined, an integer");
  EXPECT_EQ(error(R"({"generation":1,"ready":"yes"})"), "ready: expected true or false");
  EXPECT_EQ(error(R"({"generation":1,"step":-1})"), "step: expected an integer from 0 to 9223372036854775807");
  EXPECT_EQ(error(R"({"generation":1,"loss":"low"})"), "loss: expected a number");
  EXPECT_EQ(error(R"({"generation":1,"rescale":{"from":4,"pause_ms":3}})"),
            "rescale.to: required: the number of workers after the resize");
  EXPECT_EQ(error(R"({"generation":1,"rescale":{"from":4,"to":2,"pause_ms":"3"}})"),
            "rescale.pause_ms: expected a number");
}

}  // namespace
}  // namespace drover::server

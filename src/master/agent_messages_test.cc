#include "master/agent_messages.h"

#include <gtest/gtest.h>

namespace drover::master {
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

}  // namespace
}  // namespace drover::master

#include "server/log_store.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <future>

namespace drover::server {
namespace {

namespace fs = std::filesystem;

class LogStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/drover-log-store-" + ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string All(LogStore& logs, JobId job, int rank) { return logs.Read(job, rank, 0, std::chrono::milliseconds(0)); }
  std::string dir_;
};

TEST_F(LogStoreTest, ResendsAreDroppedAndASecondHostContinuesTheFile) {
  LogStore logs(dir_);
  (void)logs.Append("h1", {{{1, 0, 0}, 0, "a\nb\n"}});
  (void)logs.Append("h1", {{{1, 0, 0}, 2, "b\nc\n"}});  // overlaps what arrived
  (void)logs.Append("h1", {{{1, 0, 0}, 0, "a\n"}});     // a resend
  EXPECT_EQ(All(logs, 1, 0), "a\nb\nc\n");
  (void)logs.Append("h2", {{{1, 0, 0}, 0, "d\n"}});     // restarted elsewhere: its offsets start at 0
  EXPECT_EQ(All(logs, 1, 0), "a\nb\nc\nd\n");
  // The base survives a new LogStore (a server restart).
  LogStore again(dir_);
  (void)again.Append("h2", {{{1, 0, 0}, 2, "e\n"}});
  EXPECT_EQ(All(again, 1, 0), "a\nb\nc\nd\ne\n");
  EXPECT_TRUE(again.Exists(1, 0));
  EXPECT_FALSE(again.Exists(1, 1));
}

TEST_F(LogStoreTest, OutputThatCannotBeWrittenIsAFailureAndIsTakenWhenSentAgain) {
  LogStore logs(dir_);
  ASSERT_TRUE(logs.Append("h1", {{{3, 0, 0}, 0, "one\n"}}).ok());
  // The disk is full: writes to /dev/full fail with ENOSPC.
  fs::remove(dir_ + "/3/0.log");
  fs::create_symlink("/dev/full", dir_ + "/3/0.log");
  Status st = logs.Append("h1", {{{3, 0, 0}, 4, "two\n"}});
  EXPECT_EQ(st.code(), StatusCode::kUnavailable);
  EXPECT_NE(st.message().find("No space left on device"), std::string::npos) << st.message();
  // A job directory that cannot be made.
  std::ofstream(dir_ + "/4") << "in the way";
  EXPECT_EQ(logs.Append("h1", {{{4, 0, 0}, 0, "x\n"}}).code(), StatusCode::kUnavailable);
  // Space again: the resend is written (control: a good write is OK).
  fs::remove(dir_ + "/3/0.log");
  std::ofstream(dir_ + "/3/0.log") << "one\n";
  ASSERT_TRUE(logs.Append("h1", {{{3, 0, 0}, 4, "two\n"}}).ok());
  EXPECT_EQ(logs.Read(3, 0, 0, std::chrono::milliseconds(0)), "one\ntwo\n");
}

TEST_F(LogStoreTest, TailStartsAtTheLastLines) {
  LogStore logs(dir_);
  (void)logs.Append("h1", {{{2, 3, 0}, 0, "one\ntwo\nthree\n"}});
  EXPECT_EQ(logs.Read(2, 3, logs.TailOffset(2, 3, 2), std::chrono::milliseconds(0)), "two\nthree\n");
  EXPECT_EQ(logs.Read(2, 3, logs.TailOffset(2, 3, 10), std::chrono::milliseconds(0)), "one\ntwo\nthree\n");
  EXPECT_EQ(logs.Read(2, 3, logs.TailOffset(2, 3, 0), std::chrono::milliseconds(0)), "");
  (void)logs.Append("h1", {{{2, 4, 0}, 0, "no newline"}});
  EXPECT_EQ(logs.Read(2, 4, logs.TailOffset(2, 4, 1), std::chrono::milliseconds(0)), "no newline");
}

TEST_F(LogStoreTest, AFollowerIsWokenByNewOutputNotByATimeout) {
  LogStore logs(dir_);
  auto reader = std::async(std::launch::async, [&] { return logs.Read(5, 0, 0, std::chrono::seconds(60)); });
  // The reader may start waiting before or after this append; either way it returns the output.
  (void)logs.Append("h1", {{{5, 0, 0}, 0, "hello\n"}});
  ASSERT_EQ(reader.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  EXPECT_EQ(reader.get(), "hello\n");
  // Close wakes a waiting reader at once, with nothing.
  auto waiting = std::async(std::launch::async, [&] { return logs.Read(5, 0, 6, std::chrono::seconds(60)); });
  logs.Close();
  ASSERT_EQ(waiting.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  EXPECT_EQ(waiting.get(), "");
}

}  // namespace
}  // namespace drover::server

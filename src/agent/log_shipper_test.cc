#include "agent/log_shipper.h"

#include <gtest/gtest.h>

#include "agent/test_dir.h"

namespace drover::agent {
namespace {

const WorkerKey kA{12, 0, 3};
const WorkerKey kB{12, 1, 3};

size_t TotalBytes(const std::vector<LogChunk>& chunks) {
  size_t n = 0;
  for (const LogChunk& c : chunks) n += c.data.size();
  return n;
}

TEST(LogShipperTest, SendsNewBytesFromTheAcknowledgedOffset) {
  TestDir tmp;
  auto log = tmp.path() / "output.log";
  WriteFile(log, "old generation\n");  // 15 bytes written before this worker started
  LogShipper shipper;
  shipper.Track(kA, log, 15);
  EXPECT_TRUE(shipper.Collect().empty());

  WriteFile(log, "epoch 1\n", /*append=*/true);
  auto chunks = shipper.Collect();
  ASSERT_EQ(chunks.size(), 1u);
  EXPECT_EQ(chunks[0].key, kA);
  EXPECT_EQ(chunks[0].offset, 15u);  // positions in the file: the server's log holds the 15 already
  EXPECT_EQ(chunks[0].data, "epoch 1\n");

  // The response was lost: the same bytes again, at the same offset.
  WriteFile(log, "epoch 2\n", true);
  chunks = shipper.Collect();
  ASSERT_EQ(chunks.size(), 1u);
  EXPECT_EQ(chunks[0].offset, 15u);
  EXPECT_EQ(chunks[0].data, "epoch 1\nepoch 2\n");
  shipper.Acknowledge();
  EXPECT_EQ(shipper.acknowledged(kA), 31u);

  WriteFile(log, "epoch 3\n", true);
  chunks = shipper.Collect();
  ASSERT_EQ(chunks.size(), 1u);
  EXPECT_EQ(chunks[0].offset, 31u);
  EXPECT_EQ(chunks[0].data, "epoch 3\n");
}

TEST(LogShipperTest, MissingFileIsEmpty) {
  TestDir tmp;
  LogShipper shipper;
  shipper.Track(kA, tmp.path() / "nope.log", 0);
  EXPECT_TRUE(shipper.Collect().empty());
  EXPECT_FALSE(shipper.CollectedAll(kA));  // not finished
  shipper.MarkFinished(kA);
  EXPECT_TRUE(shipper.Collect().empty());
  EXPECT_TRUE(shipper.CollectedAll(kA));
}

TEST(LogShipperTest, CapsEachSyncAndRotatesBetweenWorkers) {
  TestDir tmp;
  constexpr size_t kCap = 256 * 1024;
  WriteFile(tmp.path() / "a.log", std::string(300 * 1024, 'a'));
  WriteFile(tmp.path() / "b.log", std::string(100 * 1024, 'b'));
  LogShipper shipper;  // default cap: 256 KiB
  shipper.Track(kA, tmp.path() / "a.log", 0);
  shipper.Track(kB, tmp.path() / "b.log", 0);

  // First sync starts with A: 256 KiB of A, nothing left for B.
  auto chunks = shipper.Collect();
  EXPECT_EQ(TotalBytes(chunks), kCap);
  ASSERT_EQ(chunks.size(), 1u);
  EXPECT_EQ(chunks[0].key, kA);
  EXPECT_TRUE(shipper.backlog());
  shipper.Acknowledge();

  // Second starts with B: all 100 KiB of B, then A's remaining 44 KiB.
  chunks = shipper.Collect();
  ASSERT_EQ(chunks.size(), 2u);
  EXPECT_EQ(chunks[0].key, kB);
  EXPECT_EQ(chunks[0].data.size(), 100u * 1024);
  EXPECT_EQ(chunks[1].key, kA);
  EXPECT_EQ(chunks[1].offset, kCap);
  EXPECT_EQ(chunks[1].data.size(), 44u * 1024);
  EXPECT_FALSE(shipper.backlog());
  shipper.Acknowledge();
  EXPECT_TRUE(shipper.Collect().empty());
}

TEST(LogShipperTest, ExitedWorkerIsCollectedAllOnlyAtTheEndOfItsOutput) {
  TestDir tmp;
  WriteFile(tmp.path() / "a.log", std::string(10, 'x'));
  LogShipper shipper(4);
  shipper.Track(kA, tmp.path() / "a.log", 0);
  shipper.MarkFinished(kA);
  EXPECT_EQ(shipper.Collect()[0].data, "xxxx");
  EXPECT_FALSE(shipper.CollectedAll(kA));
  shipper.Acknowledge();
  EXPECT_EQ(shipper.Collect()[0].offset, 4u);
  shipper.Acknowledge();
  EXPECT_EQ(shipper.Collect()[0].data, "xx");
  EXPECT_TRUE(shipper.CollectedAll(kA));
}

TEST(LogShipperTest, FinishedWorkerOutputEndsWhereItExited) {
  TestDir tmp;
  auto log = tmp.path() / "output.log";
  LogShipper shipper;
  shipper.Track(kA, log, 0);
  WriteFile(log, "generation 3\n");
  shipper.MarkFinished(kA);
  WriteFile(log, "generation 4\n", /*append=*/true);  // the next generation, same directory
  shipper.Track({12, 0, 4}, log, 13);
  auto chunks = shipper.Collect();
  ASSERT_EQ(chunks.size(), 2u);
  EXPECT_EQ(chunks[0].key, kA);
  EXPECT_EQ(chunks[0].data, "generation 3\n");
  EXPECT_TRUE(shipper.CollectedAll(kA));
  EXPECT_EQ(chunks[1].offset, 13u);
  EXPECT_EQ(chunks[1].data, "generation 4\n");
}

TEST(LogShipperTest, NeverSplitsACharacterOfARunningWorker) {
  TestDir tmp;
  // "é" is C3 A9; the cap of 4 falls between its two bytes.
  WriteFile(tmp.path() / "a.log", "abc\xC3\xA9!");
  LogShipper shipper(4);
  shipper.Track(kA, tmp.path() / "a.log", 0);
  auto chunks = shipper.Collect();
  ASSERT_EQ(chunks.size(), 1u);
  EXPECT_EQ(chunks[0].data, "abc");
  shipper.Acknowledge();
  chunks = shipper.Collect();
  EXPECT_EQ(chunks[0].offset, 3u);
  EXPECT_EQ(chunks[0].data, "\xC3\xA9!");
}

TEST(LogShipperTest, SanitizeUtf8KeepsLengths) {
  struct Case {
    std::string in;
    bool final;
    std::string out;
    size_t keep;
  };
  const Case cases[] = {
      {"plain", false, "plain", 5},
      {"caf\xC3\xA9", false, "caf\xC3\xA9", 5},
      {"\xF0\x9F\x98\x80 ok", false, "\xF0\x9F\x98\x80 ok", 7},  // 4-byte emoji
      {"bad \xFF byte", false, "bad ? byte", 10},
      {"\xC0\xAF", false, "??", 2},        // overlong '/'
      {"\xED\xA0\x80", false, "???", 3},   // surrogate half
      {"\xE2\x82", false, "\xE2\x82", 0},  // cut-off '€': held back
      {"x\xE2\x82", true, "x??", 3},       // ... unless the output is complete
      {"\xE2(x", false, "?(x", 3},         // lead byte without continuation
  };
  for (const Case& c : cases) {
    std::string data = c.in;
    size_t keep = SanitizeUtf8(data, c.final);
    EXPECT_EQ(keep, c.keep) << c.in;
    EXPECT_EQ(data, c.out) << c.in;
    EXPECT_EQ(data.size(), c.in.size());
  }
}

}  // namespace
}  // namespace drover::agent

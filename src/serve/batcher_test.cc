#include "serve/batcher.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>

namespace drover::serve {
namespace {

using std::chrono::microseconds;

BatchingOptions Options(int max, int64_t delay_us, std::vector<int> preferred = {}) {
  BatchingOptions o;
  o.max_batch_size = max;
  o.max_queue_delay = microseconds(delay_us);
  o.preferred_batch_sizes = std::move(preferred);
  o.max_queue = 4;
  return o;
}

TEST(BatcherTest, ABatchIsDueWhenFullAfterTheDelayOrWhenNothingIsArriving) {
  const BatchingOptions o = Options(8, 1000);
  struct Case {
    int64_t queued;
    int arriving;
    int64_t waited_us;
    bool due;
  };
  for (const Case& c : {
           Case{0, 0, 5000, false},  // nothing queued
           Case{3, 2, 10, false},    // two more are being read and the delay has not passed: wait for them
           Case{3, 2, 1000, true},   // the delay has passed
           Case{8, 2, 0, true},      // full
           Case{3, 0, 0, true},      // nothing on its way: waiting gains nothing
       }) {
    EXPECT_EQ(BatchDue(o, c.queued, c.arriving, microseconds(c.waited_us)), c.due)
        << c.queued << " queued, " << c.arriving << " arriving, " << c.waited_us << " us";
  }
  // With preferred sizes, reaching the largest counts as full.
  EXPECT_TRUE(BatchDue(Options(8, 1000, {2, 4}), 4, 2, microseconds(0)));
  EXPECT_FALSE(BatchDue(Options(8, 1000, {2, 4}), 3, 2, microseconds(0)));
}

TEST(BatcherTest, BatchesAreCutInOrderUpToTheMaximumOrAPreferredSize) {
  struct Case {
    std::vector<int> preferred;
    std::vector<int64_t> samples;
    size_t take;
  };
  for (const Case& c : {
           Case{{}, {1, 1, 1}, 3},           // all of it fits
           Case{{}, {4, 4, 1}, 2},           // 4 + 4 = 8; the 1 waits
           Case{{}, {3, 6}, 1},              // 3 + 6 > 8
           Case{{}, {12, 1}, 1},             // larger than a batch: alone
           Case{{2, 4}, {1, 1, 1}, 2},       // 3 queued: cut at the preferred 2
           Case{{2, 4}, {1, 1, 1, 1, 1}, 4}, // 5 queued: the largest preferred size, 4
           Case{{2, 4}, {3}, 1},             // no preferred size reached exactly: all
       }) {
    EXPECT_EQ(CutBatch(Options(8, 0, c.preferred), c.samples), c.take);
  }
}

// Threads: requests submitted while an executor is busy come out together.
TEST(BatcherTest, RequestsQueuedWhileTheExecutorIsBusyFormOneBatch) {
  Batcher<int> b(Options(8, 0));
  for (int i = 0; i < 3; ++i) {
    b.Arriving();
    int v = i;
    ASSERT_TRUE(b.Submit(v, 1));
  }
  std::vector<int> batch = b.Next();
  EXPECT_EQ(batch, (std::vector<int>{0, 1, 2}));
}

TEST(BatcherTest, ABatchWaitsForARequestBeingReadButNotPastTheDelay) {
  Batcher<int> b(Options(8, 10'000'000));  // a delay no test run reaches
  b.Arriving();
  b.Arriving();  // a second request is being read
  int first = 1;
  ASSERT_TRUE(b.Submit(first, 1));
  auto next = std::async(std::launch::async, [&] { return b.Next(); });
  // The executor waits for the second (a lone request would have gone at once: see the control below).
  EXPECT_EQ(next.wait_for(std::chrono::milliseconds(50)), std::future_status::timeout);
  int second = 2;
  ASSERT_TRUE(b.Submit(second, 1));
  EXPECT_EQ(next.get(), (std::vector<int>{1, 2}));

  // Control: nothing arriving, the batch goes at once with what is queued.
  b.Arriving();
  int third = 3;
  ASSERT_TRUE(b.Submit(third, 1));
  auto alone = std::async(std::launch::async, [&] { return b.Next(); });
  EXPECT_EQ(alone.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(alone.get(), (std::vector<int>{3}));
}

TEST(BatcherTest, AFullQueueRefusesAndCloseDrainsWhatIsQueued) {
  Batcher<int> b(Options(2, 0));  // max_queue 4
  for (int i = 0; i < 4; ++i) {
    b.Arriving();
    ASSERT_TRUE(b.Submit(i, 1));
  }
  b.Arriving();
  int fifth = 4;
  EXPECT_FALSE(b.Submit(fifth, 1));
  EXPECT_EQ(b.queued(), 4u);
  b.Close();
  b.Arriving();
  int late = 5;
  EXPECT_FALSE(b.Submit(late, 1));
  EXPECT_EQ(b.Next(), (std::vector<int>{0, 1}));
  EXPECT_EQ(b.Next(), (std::vector<int>{2, 3}));
  EXPECT_TRUE(b.Next().empty());
}

}  // namespace
}  // namespace drover::serve

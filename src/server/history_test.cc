#include "server/history.h"

#include <gtest/gtest.h>

namespace drover::server {
namespace {

TEST(HistoryTest, StoresEachSampleAndAveragesClosedBucketsIntoCoarseRows) {
  History h({.interval = 10, .fine_keep = 60, .coarse = 100, .keep = 1000});
  EXPECT_TRUE(h.Due(0));
  store::WriteBatch b;
  h.Record(1000, {{"cluster", {{"used", 2}}}, {"job:1", {{"loss", 1.0}}}}, &b);
  EXPECT_FALSE(h.Due(1005));
  EXPECT_TRUE(h.Due(1010));
  ASSERT_EQ(b.samples.size(), 2u);  // fine rows only: the bucket [1000, 1100) is open
  EXPECT_EQ(b.samples[0], (store::SampleRecord{"cluster", 1000, 10, {{"used", 2}}}));
  ASSERT_EQ(b.pruned_samples.size(), 2u);
  EXPECT_EQ(b.pruned_samples[0].resolution, 10);
  EXPECT_EQ(b.pruned_samples[0].before, 940);
  EXPECT_EQ(b.pruned_samples[1].resolution, 100);
  EXPECT_EQ(b.pruned_samples[1].before, 0);

  store::WriteBatch b2;
  h.Record(1050, {{"cluster", {{"used", 4}, {"free", 1}}}}, &b2);  // job:1 ended
  EXPECT_EQ(b2.samples.size(), 1u);

  store::WriteBatch b3;
  h.Record(1100, {{"cluster", {{"used", 8}}}}, &b3);  // closes [1000, 1100), job:1's too
  std::map<std::string, store::SampleRecord> coarse;
  for (const auto& s : b3.samples) {
    if (s.resolution == 100) coarse[s.series] = s;
  }
  ASSERT_EQ(coarse.size(), 2u);
  EXPECT_EQ(coarse["cluster"], (store::SampleRecord{"cluster", 1000, 100, {{"used", 3}, {"free", 1}}}));
  EXPECT_EQ(coarse["job:1"], (store::SampleRecord{"job:1", 1000, 100, {{"loss", 1.0}}}));

  // After Reset the open bucket is forgotten: the next close has only what followed.
  h.Reset();
  store::WriteBatch b4, b5;
  h.Record(1150, {{"cluster", {{"used", 6}}}}, &b4);
  h.Record(1200, {{"cluster", {{"used", 0}}}}, &b5);
  ASSERT_EQ(b5.samples.size(), 2u);
  EXPECT_EQ(b5.samples[0], (store::SampleRecord{"cluster", 1100, 100, {{"used", 6}}}));
}

TEST(HistoryTest, ReadsUseTheFineResolutionWhileItReachesBack) {
  History h({.interval = 10, .fine_keep = 3600, .coarse = 300, .keep = 86400});
  EXPECT_EQ(h.Resolution(10000 - 3600, 10000), 10);
  EXPECT_EQ(h.Resolution(10000 - 3601, 10000), 300);
  History off({.interval = 0});
  EXPECT_FALSE(off.Due(1e9));
}

}  // namespace
}  // namespace drover::server

#include "train/elastic_sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <numeric>
#include <string>
#include <vector>

namespace drover::train {
namespace {

bool IsPermutation(const std::vector<int64_t>& p, int64_t n) {
  std::vector<int64_t> sorted = p;
  std::sort(sorted.begin(), sorted.end());
  std::vector<int64_t> iota(static_cast<size_t>(n));
  std::iota(iota.begin(), iota.end(), 0);
  return sorted == iota;
}

// The whole global batch, gathered rank by rank.
std::vector<int64_t> GlobalBatch(const ElasticSampler& s, int64_t global_batch, int world) {
  std::vector<int64_t> all;
  for (int r = 0; r < world; ++r) {
    auto mine = s.Next(global_batch, world, r);
    EXPECT_TRUE(mine.ok()) << mine.status().ToString();
    if (mine.ok()) all.insert(all.end(), mine->begin(), mine->end());
  }
  return all;
}

TEST(ElasticSamplerTest, PermutationIsDeterministicPerSeedAndEpoch) {
  auto a = EpochPermutation(42, 0, 1000);
  EXPECT_TRUE(IsPermutation(a, 1000));
  EXPECT_EQ(a, EpochPermutation(42, 0, 1000));
  EXPECT_NE(a, EpochPermutation(42, 1, 1000));
  EXPECT_NE(a, EpochPermutation(43, 0, 1000));
  EXPECT_TRUE(IsPermutation(EpochPermutation(42, 1, 1000), 1000));
  EXPECT_TRUE(EpochPermutation(42, 0, 0).empty());
  EXPECT_EQ(EpochPermutation(42, 0, 1), std::vector<int64_t>{0});
}

TEST(ElasticSamplerTest, PermutationIsPinned) {
  // Golden values: a change here reorders every running job's data on upgrade,
  // and workers on different builds would disagree.
  EXPECT_EQ(EpochPermutation(0, 0, 10), (std::vector<int64_t>{4, 3, 1, 2, 8, 5, 9, 6, 0, 7}));
  EXPECT_EQ(EpochPermutation(7, 3, 10), (std::vector<int64_t>{6, 8, 4, 1, 5, 2, 9, 3, 7, 0}));
}

TEST(ElasticSamplerTest, RankSlicesSplitEvenlyAndInOrder) {
  // 10 over 4: sizes 3 3 2 2.
  EXPECT_EQ(RankSlice(10, 4, 0).begin, 0);
  EXPECT_EQ(RankSlice(10, 4, 0).size, 3);
  EXPECT_EQ(RankSlice(10, 4, 1).begin, 3);
  EXPECT_EQ(RankSlice(10, 4, 2).begin, 6);
  EXPECT_EQ(RankSlice(10, 4, 2).size, 2);
  EXPECT_EQ(RankSlice(10, 4, 3).begin, 8);
  EXPECT_EQ(RankSlice(10, 4, 3).size, 2);
  for (int64_t batch : {0, 1, 5, 7, 64, 65}) {
    for (int world : {1, 2, 3, 8}) {
      int64_t next = 0;
      for (int r = 0; r < world; ++r) {
        Slice s = RankSlice(batch, world, r);
        EXPECT_EQ(s.begin, next) << batch << "/" << world << " rank " << r;
        EXPECT_LE(s.size, (batch + world - 1) / world);
        EXPECT_GE(s.size, batch / world);
        next += s.size;
      }
      EXPECT_EQ(next, batch);
    }
  }
}

TEST(ElasticSamplerTest, RanksShareOneGlobalBatchDisjointly) {
  auto s = ElasticSampler::Create(100, 5).value();
  std::vector<int64_t> batch = GlobalBatch(s, 16, 3);
  ASSERT_EQ(batch.size(), 16u);
  auto order = EpochPermutation(5, 0, 100);
  // Contiguous slices in rank order rebuild the permuted prefix exactly.
  EXPECT_EQ(batch, std::vector<int64_t>(order.begin(), order.begin() + 16));
  EXPECT_EQ(s.Next(16, 3, 0)->size(), 6u);
  EXPECT_EQ(s.Next(16, 3, 2)->size(), 5u);
  EXPECT_EQ(s.cursor(), 0);  // Next does not consume
}

TEST(ElasticSamplerTest, SmallBatchLeavesSomeRanksEmpty) {
  auto s = ElasticSampler::Create(10, 1).value();
  EXPECT_EQ(s.Next(2, 4, 0)->size(), 1u);
  EXPECT_EQ(s.Next(2, 4, 1)->size(), 1u);
  EXPECT_TRUE(s.Next(2, 4, 2)->empty());
  EXPECT_TRUE(s.Next(2, 4, 3)->empty());
}

TEST(ElasticSamplerTest, LastBatchOfEpochIsShortThenNextEpochBegins) {
  auto s = ElasticSampler::Create(10, 1).value();
  ASSERT_TRUE(s.Advance(4).ok());
  ASSERT_TRUE(s.Advance(4).ok());
  EXPECT_EQ(s.NextBatchSize(4), 2);
  EXPECT_EQ(GlobalBatch(s, 4, 2).size(), 2u);  // rank 0 gets 1, rank 1 gets 1
  ASSERT_TRUE(s.Advance(4).ok());
  EXPECT_EQ(s.epoch(), 1);
  EXPECT_EQ(s.cursor(), 0);
  auto order = EpochPermutation(1, 1, 10);
  EXPECT_EQ(GlobalBatch(s, 4, 1), std::vector<int64_t>(order.begin(), order.begin() + 4));
}

TEST(ElasticSamplerTest, BadArgumentsAreRefused) {
  auto empty = ElasticSampler::Create(0, 1);
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(empty.status().message().find("dataset_size is 0"), std::string::npos);
  EXPECT_FALSE(ElasticSampler::Create(-3, 1).ok());

  auto s = ElasticSampler::Create(10, 1).value();
  EXPECT_NE(s.Next(0, 2, 0).status().message().find("global_batch is 0"), std::string::npos);
  EXPECT_NE(s.Next(4, 0, 0).status().message().find("world_size is 0"), std::string::npos);
  EXPECT_NE(s.Next(4, 2, 2).status().message().find("rank is 2, outside [0, 2)"),
            std::string::npos);
  EXPECT_FALSE(s.Next(4, 2, -1).ok());
  SamplerState before = s.state();
  EXPECT_FALSE(s.Advance(-1).ok());
  EXPECT_EQ(s.state(), before);
}

// One step of a schedule: the world size and global batch used for it.
struct Step {
  int world;
  int64_t global_batch;
};

// Runs `steps` (cycling) until the epoch ends, checking that the ranks'
// slices of every global batch are disjoint; returns every index used, in order.
std::vector<int64_t> RunEpoch(ElasticSampler& s, const std::vector<Step>& steps) {
  std::vector<int64_t> used;
  int64_t epoch = s.epoch();
  for (size_t i = 0; s.epoch() == epoch; ++i) {
    const Step& step = steps[i % steps.size()];
    std::vector<int64_t> batch = GlobalBatch(s, step.global_batch, step.world);
    EXPECT_EQ(static_cast<int64_t>(batch.size()), s.NextBatchSize(step.global_batch));
    used.insert(used.end(), batch.begin(), batch.end());
    EXPECT_TRUE(s.Advance(step.global_batch).ok());
  }
  return used;
}

struct ScheduleCase {
  const char* name;
  int64_t n;
  std::vector<Step> steps;
};
void PrintTo(const ScheduleCase& c, std::ostream* os) { *os << c.name; }

class ExactlyOnceTest : public testing::TestWithParam<ScheduleCase> {};

TEST_P(ExactlyOnceTest, EverySampleOfAnEpochIsUsedOnce) {
  const ScheduleCase& c = GetParam();
  auto s = ElasticSampler::Create(c.n, 2024).value();
  for (int epoch = 0; epoch < 2; ++epoch) {
    std::vector<int64_t> used = RunEpoch(s, c.steps);
    EXPECT_TRUE(IsPermutation(used, c.n)) << c.name << " epoch " << epoch;
    EXPECT_EQ(used, EpochPermutation(2024, epoch, c.n));
    EXPECT_EQ(s.epoch(), epoch + 1);
    EXPECT_EQ(s.cursor(), 0);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Schedules, ExactlyOnceTest,
    testing::Values(
        ScheduleCase{"Fixed1", 50, {{1, 8}}},
        ScheduleCase{"Grow1to2to3Shrink1", 100, {{1, 8}, {1, 8}, {2, 8}, {3, 8}, {3, 8}, {1, 8}}},
        ScheduleCase{"ResizeEveryStepOddBatch", 97, {{1, 7}, {2, 7}, {3, 7}, {1, 7}}},
        ScheduleCase{"BatchScalesWithWorld", 101, {{1, 4}, {2, 8}, {3, 12}, {1, 4}}},
        ScheduleCase{"BatchSmallerThanWorld", 13, {{3, 2}, {1, 1}, {2, 1}, {3, 5}}},
        ScheduleCase{"BatchLargerThanDataset", 5, {{2, 64}, {3, 64}}}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(ElasticSamplerTest, RandomResizesStillUseEverySampleOnce) {
  // A fixed-seed schedule of resizes among 1..3 workers at arbitrary steps, with
  // varying global batches; the schedule itself is drawn from EpochPermutation
  // so that it, too, is the same everywhere.
  auto draws = EpochPermutation(99, 0, 3000);
  std::vector<Step> steps;
  for (size_t i = 0; i + 1 < draws.size(); i += 2) {
    steps.push_back({static_cast<int>(draws[i] % 3) + 1, draws[i + 1] % 20 + 1});
  }
  const int64_t n = 1237;
  auto s = ElasticSampler::Create(n, 31337).value();
  std::map<int64_t, int> seen;
  std::vector<int64_t> used = RunEpoch(s, steps);
  for (int64_t i : used) ++seen[i];
  EXPECT_EQ(static_cast<int64_t>(seen.size()), n);
  for (const auto& [index, times] : seen) {
    ASSERT_EQ(times, 1) << "sample " << index;
    ASSERT_GE(index, 0);
    ASSERT_LT(index, n);
  }
}

TEST(ElasticSamplerTest, StateRoundTripsThroughBytes) {
  SamplerState state{0xfedcba9876543210ULL, 60000, 7, 4242};
  auto bytes = EncodeState(state);
  auto back = DecodeState(bytes);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, state);
  EXPECT_EQ(bytes[0], 0x10);  // little-endian on the wire, whatever the host
  std::vector<uint8_t> short_bytes(bytes.begin(), bytes.end() - 1);
  auto bad = DecodeState(short_bytes);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("31 bytes, want 32"), std::string::npos);
}

TEST(ElasticSamplerTest, NewcomerResumesFromBroadcastState) {
  const int64_t n = 90;
  auto senior = ElasticSampler::Create(n, 11).value();
  std::vector<int64_t> used;
  // Alone for three steps.
  for (int i = 0; i < 3; ++i) {
    auto b = GlobalBatch(senior, 10, 1);
    used.insert(used.end(), b.begin(), b.end());
    ASSERT_TRUE(senior.Advance(10).ok());
  }
  // A newcomer joins from the broadcast bytes; rank 0 is the senior, rank 1 the newcomer.
  auto joined = ElasticSampler::Restore(DecodeState(EncodeState(senior.state())).value(), n);
  ASSERT_TRUE(joined.ok()) << joined.status().ToString();
  ElasticSampler newcomer = std::move(joined).value();
  EXPECT_EQ(newcomer.state(), senior.state());
  while (senior.epoch() == 0) {
    // Each computes the whole batch as it would for both ranks: they must agree.
    EXPECT_EQ(GlobalBatch(newcomer, 10, 2), GlobalBatch(senior, 10, 2));
    auto mine0 = senior.Next(10, 2, 0).value();
    auto mine1 = newcomer.Next(10, 2, 1).value();
    used.insert(used.end(), mine0.begin(), mine0.end());
    used.insert(used.end(), mine1.begin(), mine1.end());
    ASSERT_TRUE(senior.Advance(10).ok());
    ASSERT_TRUE(newcomer.Advance(10).ok());
    EXPECT_EQ(newcomer.state(), senior.state());
  }
  EXPECT_TRUE(IsPermutation(used, n));
  // Into epoch 1 they still agree.
  EXPECT_EQ(GlobalBatch(newcomer, 10, 2), GlobalBatch(senior, 10, 2));
}

TEST(ElasticSamplerTest, RestoreRefusesInconsistentState) {
  struct Case {
    SamplerState state;
    int64_t local_n;
    const char* message;
  };
  const Case cases[] = {
      {{1, 100, 0, 0}, 99, "state.dataset_size is 100 but the local dataset has 99"},
      {{1, 100, -1, 0}, 100, "state.epoch is -1"},
      {{1, 100, 0, 100}, 100, "state.cursor is 100, outside [0, 100)"},
      {{1, 100, 0, -5}, 100, "state.cursor is -5"},
      {{1, 0, 0, 0}, 0, "dataset_size is 0"},
  };
  for (const Case& c : cases) {
    auto r = ElasticSampler::Restore(c.state, c.local_n);
    ASSERT_FALSE(r.ok()) << c.message;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find(c.message), std::string::npos) << r.status().message();
  }
}

}  // namespace
}  // namespace drover::train

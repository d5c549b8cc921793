#include "sched/fair_share.h"

#include <gtest/gtest.h>

namespace drover::sched {
namespace {

struct Case {
  const char* name;
  ConsumerPlan a, b;
  int64_t demand_a, demand_b, capacity;
  int64_t want_a, want_b;
};

class TwoSiblingsTest : public ::testing::TestWithParam<Case> {};

TEST_P(TwoSiblingsTest, Entitlement) {
  const Case& c = GetParam();
  ConsumerTree t;
  int a = t.Add(0, "a", c.a).value();
  int b = t.Add(0, "b", c.b).value();
  std::vector<int64_t> demand(t.size(), 0);
  demand[a] = c.demand_a;
  demand[b] = c.demand_b;
  auto e = ComputeEntitlements(t, demand, c.capacity);
  EXPECT_EQ(e[a], c.want_a);
  EXPECT_EQ(e[b], c.want_b);
  EXPECT_LE(e[a] + e[b], c.capacity);
}

INSTANTIATE_TEST_SUITE_P(
    Rules, TwoSiblingsTest,
    ::testing::Values(
        // Equal shares of 4 idle GPUs: 2 each (IBM's demo).
        Case{"EqualShares", {}, {}, 4, 4, 4, 2, 2},
        // a owns 4 but wants nothing: its GPUs are lent to b.
        Case{"IdleOwnedGpusAreLentToSiblings", {.owned = 4}, {.owned = 4}, 0, 8, 8, 0, 8},
        // Idle GPUs split 2:1 by share: 9 * 2/3 = 6, 9 * 1/3 = 3.
        Case{"ShareRatioSplitsIdle", {.share = 2}, {.share = 1}, 12, 12, 9, 6, 3},
        // Guarantees come before shares: a owns 6 of 8; b's share 10x only splits the rest.
        Case{"OwnedBeforeShare", {.owned = 6, .share = 1}, {.share = 10}, 8, 8, 8, 6, 2},
        // Demand caps: a wants 1, b takes the remaining 7.
        Case{"DemandCaps", {}, {}, 1, 20, 8, 1, 7},
        // limit caps a at 3 although its share would be 4.
        Case{"LimitCaps", {.limit = 3}, {}, 8, 8, 8, 3, 5},
        // a may not borrow: it stays at its owned 2.
        Case{"NoBorrowStaysAtOwned", {.owned = 2, .borrow = false}, {}, 8, 8, 8, 2, 6},
        // a owns 4, does not lend, uses 1: 3 stay reserved, b gets 4 of 8.
        Case{"NoLendKeepsIdleOwned", {.owned = 4, .lend = false}, {}, 1, 8, 8, 1, 4},
        // Over-committed (owned 6 + 6 on 8 up GPUs): guarantees shrink in proportion.
        Case{"OvercommittedScalesGuarantees", {.owned = 6}, {.owned = 6}, 6, 6, 8, 4, 4}),
    [](const ::testing::TestParamInfo<Case>& i) { return std::string(i.param.name); });

TEST(FairShareTest, HierarchyDividesTopDown) {
  // /a owns 6 with children x (owns 4) and y (owns 2); /b owns 2; 8 GPUs.
  ConsumerTree t;
  int a = t.Add(0, "a", {.owned = 6}).value();
  int x = t.Add(a, "x", {.owned = 4}).value();
  int y = t.Add(a, "y", {.owned = 2}).value();
  int b = t.Add(0, "b", {.owned = 2}).value();
  std::vector<int64_t> demand(t.size(), 0);
  demand[x] = 1;   // x is nearly idle: its 3 spare go first to its sibling y
  demand[y] = 10;
  demand[b] = 10;
  auto e = ComputeEntitlements(t, demand, 8);
  EXPECT_EQ(e[a], 6);  // a keeps its owned 6 (its demand is 11)
  EXPECT_EQ(e[x], 1);
  EXPECT_EQ(e[y], 5);  // owned 2 + x's 3 idle
  EXPECT_EQ(e[b], 2);
}

TEST(FairShareTest, WaterFillSaturatesSmallCapsFirst) {
  // 10 over weights 1,1,1 with caps 1, 10, 10: 1, then 4.5 each.
  auto x = WaterFill(10, {1, 1, 1}, {1, 10, 10});
  EXPECT_DOUBLE_EQ(x[0], 1);
  EXPECT_DOUBLE_EQ(x[1], 4.5);
  EXPECT_DOUBLE_EQ(x[2], 4.5);
}

TEST(FairShareTest, RoundingKeepsTheSum) {
  auto r = RoundPreservingSum({1.5, 1.5, 1.0}, 4);
  EXPECT_EQ(r[0] + r[1] + r[2], 4);
  EXPECT_EQ(r[0], 2);  // ties go to the lower index
  EXPECT_EQ(r[1], 1);
}

}  // namespace
}  // namespace drover::sched

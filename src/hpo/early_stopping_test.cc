#include "hpo/early_stopping.h"

#include <gtest/gtest.h>

#include <map>

namespace drover::hpo {
namespace {

std::unique_ptr<EarlyStopper> Make(const std::string& name, double lo, double hi, double eta = 3) {
  auto s = MakeEarlyStopper(name, {lo, hi, eta});
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return std::move(s).value();
}

TEST(EarlyStoppingTest, BadOptionsAreRefusedNamingTheField) {
  EXPECT_NE(MakeEarlyStopper("asha", {0, 6, 3}).status().message().find("resource.min"), std::string::npos);
  EXPECT_NE(MakeEarlyStopper("asha", {2, 1, 3}).status().message().find("resource.max"), std::string::npos);
  EXPECT_NE(MakeEarlyStopper("asha", {1, 6, 1}).status().message().find("reduction_factor"), std::string::npos);
  EXPECT_NE(MakeEarlyStopper("pbt", {1, 6, 3}).status().message().find("unknown rule \"pbt\""), std::string::npos);
}

// Rungs at 1 and 3 (9 is r_max: a trial there is finished, not judged).
TEST(EarlyStoppingTest, AshaKeepsTheBestThirdAtEachRung) {
  auto asha = Make("asha", 1, 9);
  std::vector<Curve> c = {{0, 0, {{1, 0.5}}}};
  // Judges as the controller does: a rung passed is recorded and not judged again.
  auto judge = [&](size_t i) {
    Verdict v = asha->Judge(c, i);
    if (!v.stop) c[i].judged = v.rung;
    return v;
  };
  EXPECT_FALSE(judge(0).stop);  // alone at rung 0: continues
  EXPECT_EQ(c[0].judged, 0);
  c.push_back({1, 0, {{1, 0.9}}});
  // recorded {0.5, 0.9}: the 1/3-quantile is 0.5 + 0.4/3 = 0.633; 0.9 is above it.
  Verdict v = judge(1);
  EXPECT_TRUE(v.stop);
  EXPECT_NE(v.reason.find("rung 0 (resource 1): loss 0.9 is not in the best 1/3 of the 2 trials there (cutoff 0.6333)"),
            std::string::npos)
      << v.reason;
  c.push_back({2, 0, {{1, 0.4}}});
  // recorded {0.4, 0.5, 0.9}: the 1/3-quantile is 0.4 + 0.1 * 2/3 = 0.467; 0.4 is below it.
  EXPECT_FALSE(judge(2).stop);
  // Rung 0 passed is final: trial 0, now outside the best third there, is not judged again.
  EXPECT_FALSE(judge(0).stop);
  Curve unjudged = c[0];
  unjudged.judged = -1;
  std::vector<Curve> control = {unjudged, c[1], c[2]};
  EXPECT_TRUE(asha->Judge(control, 0).stop) << "the control: judged afresh, 0.5 is above the cutoff 0.467";
  // Trial 0 goes on to 2 (no rung: not judged) and 3 (rung 1, alone there: continues).
  c[0].points.push_back({2, 0.95});
  EXPECT_FALSE(judge(0).stop);
  c[0].points.push_back({3, 0.45});
  EXPECT_FALSE(judge(0).stop);
  EXPECT_EQ(c[0].judged, 1);
  // Trial 2's reports at 2 and 3 arrive together: rung 1 is judged all the same.
  // recorded {0.45, 0.6}: cutoff 0.45 + 0.15/3 = 0.5.
  c[2].points.push_back({2, 0.7});
  c[2].points.push_back({3, 0.6});
  EXPECT_TRUE(judge(2).stop);
  // At r_max nothing stops: the trial has finished its budget.
  c[2].points.push_back({9, 5.0});
  c[2].judged = 1;
  EXPECT_FALSE(judge(2).stop);
}

TEST(EarlyStoppingTest, HyperbandDealsTrialsToBracketsAndComparesWithinOne) {
  // r 1..9, eta 3: s_max 2; brackets start at 1, 3, 9 and get ceil(3/3*9) = 9, ceil(3/2*3) = 5, ceil(3/1*1) = 3.
  auto hb = Make("hyperband", 1, 9);
  std::map<int, int> count;
  for (int n = 0; n < 17; ++n) ++count[hb->BracketOf(n)];
  EXPECT_EQ(count, (std::map<int, int>{{0, 9}, {1, 5}, {2, 3}}));
  std::map<int, int> first_five;
  for (int n = 0; n < 5; ++n) ++first_five[hb->BracketOf(n)];
  EXPECT_GE(first_five.size(), 2u) << "the deal is interleaved, not 9 of bracket 0 first";
  // Bracket 1's first rung is 3: a trial there at resource 1 is not judged,
  // and at 3 it is compared with bracket 1's trials only.
  std::vector<Curve> c = {{0, 0, {{1, 0.1}, {3, 0.1}}, 1}, {1, 1, {{1, 0.9}}}};
  EXPECT_FALSE(hb->Judge(c, 1).stop);
  c[1].points.push_back({3, 0.9});
  Verdict first = hb->Judge(c, 1);
  EXPECT_FALSE(first.stop) << "bracket 0's trial is not its competitor";
  c[1].judged = first.rung;
  c.push_back({2, 1, {{3, 0.2}}});
  EXPECT_FALSE(hb->Judge(c, 2).stop);
  c.push_back({3, 1, {{3, 0.95}}});
  EXPECT_TRUE(hb->Judge(c, 3).stop);  // recorded {0.9, 0.2, 0.95}: cutoff 0.2 + 0.7 * 2/3 = 0.667
}

TEST(EarlyStoppingTest, MedianStoppingComparesWithTheOthersRunningMeans) {
  auto median = Make("median", 2, 10);
  std::vector<Curve> c = {{0, 0, {{1, 0.6}, {2, 0.4}}},   // mean up to 2: 0.5
                          {1, 0, {{1, 0.8}, {2, 0.6}}},   // 0.7
                          {2, 0, {{1, 0.5}, {2, 0.3}}}};  // 0.4
  c.push_back({3, 0, {{1, 0.9}}});
  EXPECT_FALSE(median->Judge(c, 3).stop);  // resource 1 is below min: too early to judge
  c[3].points.push_back({2, 0.55});
  // Its best, 0.55, against the median of {0.5, 0.7, 0.4} = 0.5: worse, so it stops.
  Verdict v = median->Judge(c, 3);
  EXPECT_TRUE(v.stop);
  EXPECT_NE(v.reason.find("at resource 2 its best loss 0.55 is above the median 0.5 of the running means of the 3 other trials"),
            std::string::npos)
      << v.reason;
  c[3].points.back().second = 0.45;  // the control: a better trial goes on
  EXPECT_FALSE(median->Judge(c, 3).stop);
  c.resize(3);
  c[2].points.push_back({3, 9.0});  // two others at resource 3 only: not enough to judge
  EXPECT_FALSE(median->Judge(c, 2).stop);
}

}  // namespace
}  // namespace drover::hpo

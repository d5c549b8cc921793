#include "hpo/search_space.h"

#include <gtest/gtest.h>

#include <set>

namespace drover::hpo {
namespace {

Param Range(const std::string& name, ParamType t, double lo, double hi, int64_t step = 1) {
  Param p;
  p.name = name;
  p.type = t;
  p.min = lo;
  p.max = hi;
  p.step = step;
  return p;
}

Param List(const std::string& name, ParamType t, std::vector<std::string> values) {
  Param p;
  p.name = name;
  p.type = t;
  p.values = std::move(values);
  return p;
}

TEST(SearchSpaceTest, BadSpacesAreRefusedNamingTheParameter) {
  struct Case {
    std::vector<Param> params;
    std::string error;
  };
  const std::vector<Case> cases = {
      {{}, "at least one parameter"},
      {{Range("lr", ParamType::kDouble, 1, 0)}, "parameters.lr: empty range"},
      {{Range("lr", ParamType::kLog, 0, 1)}, "parameters.lr: a log range needs min above 0"},
      {{Range("n", ParamType::kInt, 0.5, 4)}, "parameters.n: an int range needs integer"},
      {{Range("n", ParamType::kInt, 0, 4, 0)}, "parameters.n: step"},
      {{List("act", ParamType::kCategorical, {})}, "parameters.act: values: expected at least one"},
      {{List("act", ParamType::kCategorical, {"relu", "relu"})}, "relu is listed twice"},
      {{Range("a", ParamType::kDouble, 0, 1), Range("a", ParamType::kDouble, 0, 1)}, "parameters.a: defined twice"},
  };
  for (const Case& c : cases) {
    auto s = SearchSpace::Make(c.params);
    ASSERT_FALSE(s.ok()) << c.error;
    EXPECT_NE(s.status().message().find(c.error), std::string::npos) << s.status().message();
  }
  EXPECT_TRUE(SearchSpace::Make({Range("lr", ParamType::kLog, 1e-3, 0.5)}).ok());  // the control
}

TEST(SearchSpaceTest, SamplesStayInTheSpaceAndLogRangesAreLogUniform) {
  auto s = SearchSpace::Make({Range("lr", ParamType::kLog, 1e-4, 1), Range("m", ParamType::kDouble, 0, 0.99),
                              Range("c", ParamType::kInt, 4, 16, 4), List("b", ParamType::kOrdinal, {"32", "64"})});
  ASSERT_TRUE(s.ok());
  Rng rng(1);
  int below_1e2 = 0;
  std::set<double> channels;
  for (int i = 0; i < 4000; ++i) {
    Config c = s->Sample(rng);
    ASSERT_TRUE(s->Contains(c)) << s->Text(c, 0) << " " << s->Text(c, 2);
    below_1e2 += c[0] < 1e-2;
    channels.insert(c[2]);
  }
  // log-uniform over 4 decades: half the draws below 1e-2 (uniform would give 1%).
  EXPECT_NEAR(below_1e2 / 4000.0, 0.5, 0.05);
  EXPECT_EQ(channels, (std::set<double>{4, 8, 12, 16}));
  EXPECT_FALSE(s->Contains({0.1, 0.5, 6, 0}));  // 6 is off the step
  EXPECT_FALSE(s->Contains({0.1, 0.5, 4, 2}));  // index past the list
}

TEST(SearchSpaceTest, TheGridHoldsEveryPointOnceAndRefusesContinuousRanges) {
  auto s = SearchSpace::Make({Range("c", ParamType::kInt, 4, 16, 4), List("act", ParamType::kCategorical, {"relu", "tanh", "gelu"})});
  ASSERT_TRUE(s.ok());
  ASSERT_EQ(*s->GridSize(), 12);
  std::set<Config> points;
  for (int64_t i = 0; i < 12; ++i) points.insert(s->GridPoint(i));
  EXPECT_EQ(points.size(), 12u);
  EXPECT_EQ(s->Text(s->GridPoint(11), 0), "16");
  EXPECT_EQ(s->Text(s->GridPoint(11), 1), "gelu");
  auto cont = SearchSpace::Make({Range("lr", ParamType::kLog, 1e-3, 0.5)});
  ASSERT_TRUE(cont.ok());
  EXPECT_NE(cont->GridSize().status().message().find("parameters.lr: a grid needs discrete parameters"),
            std::string::npos);
}

TEST(SearchSpaceTest, TextIsTheValueAsWritten) {
  auto s = SearchSpace::Make({Range("lr", ParamType::kLog, 1e-3, 0.5), Range("c", ParamType::kInt, 4, 16, 4),
                              List("b", ParamType::kCategorical, {"32", "x y"})});
  ASSERT_TRUE(s.ok());
  Config c = {0.01, 8, 1};
  EXPECT_EQ(s->Text(c, 0), "0.01");
  EXPECT_EQ(s->Text(c, 1), "8");
  EXPECT_EQ(s->Text(c, 2), "x y");
}

}  // namespace
}  // namespace drover::hpo

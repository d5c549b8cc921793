#include "hpo/tabular.h"

#include <gtest/gtest.h>

namespace drover::hpo {
namespace {

const char* kCsv =
    "act,units,acc_seed0,acc_seed1\n"
    "relu,9,0.5,0.7\n"
    "relu,10,0.8,\n"
    "tanh,9,0.1,0.3\n"
    "tanh,10,0.4,0.4\n";

TEST(TableTest, ParsesParametersAndMeansOfTheSeedColumns) {
  auto t = Table::Parse(kCsv, "t.csv");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  ASSERT_EQ(t->space().size(), 2);
  EXPECT_EQ(t->space().params()[0].type, ParamType::kCategorical);
  EXPECT_EQ(t->space().params()[1].type, ParamType::kOrdinal);
  EXPECT_EQ(t->space().params()[1].values, (std::vector<std::string>{"9", "10"}));  // numeric order
  EXPECT_DOUBLE_EQ(*t->Value({0, 0}), 0.6);
  EXPECT_DOUBLE_EQ(*t->Value({0, 1}), 0.8);  // the blank cell is skipped
  EXPECT_DOUBLE_EQ(t->Best(false), 0.8);
  EXPECT_DOUBLE_EQ(t->Best(true), 0.2);
  auto all_categorical = Table::Parse(kCsv, "t.csv", /*ordered_numbers=*/false);
  EXPECT_EQ(all_categorical->space().params()[1].type, ParamType::kCategorical);
}

TEST(TableTest, BadTablesNameTheLine) {
  EXPECT_NE(Table::Parse("a,b\n1,2\n", "t").status().message().find("t:1: no metric column"), std::string::npos);
  EXPECT_NE(Table::Parse("a,m_seed0\n1,2,3\n", "t").status().message().find("t:2: 3 cells"), std::string::npos);
  EXPECT_NE(Table::Parse("a,m_seed0\n1,x\n", "t").status().message().find("t:2: m_seed0: \"x\" is not a number"),
            std::string::npos);
  EXPECT_NE(Table::Parse("a,m_seed0\n1,2\n1,3\n", "t").status().message().find("t:3: this configuration is listed twice"),
            std::string::npos);
  EXPECT_NE(Table::Parse("a,m_seed0\n1,\n", "t").status().message().find("t:2: no metric value"), std::string::npos);
}

TEST(TableTest, AGridOnTheTableFindsItsBest) {
  auto t = Table::Parse(kCsv, "t.csv");
  ASSERT_TRUE(t.ok());
  auto run = RunOnTable(*t, {.sampler = "grid", .trials = 10, .seed = 4, .minimize = false});
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->size(), 4u);  // the grid is walked after 4
  EXPECT_DOUBLE_EQ(run->back(), 0.8);
  auto min = RunOnTable(*t, {.sampler = "grid", .trials = 10, .seed = 4, .minimize = true});
  EXPECT_DOUBLE_EQ(min->back(), 0.2);  // the control: minimising finds the other end
}

}  // namespace
}  // namespace drover::hpo

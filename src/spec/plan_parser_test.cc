#include "spec/plan_parser.h"

#include <cstdlib>
#include <string>

#include <gtest/gtest.h>

namespace drover {
namespace {

std::string SourceDir() {
  const char* dir = std::getenv("DROVER_SOURCE_DIR");
  return dir != nullptr ? dir : DROVER_SOURCE_DIR_FALLBACK;
}

TEST(PlanParserTest, NestedConsumersBecomePaths) {
  Result<ConsumerTree> tree = ParsePlan(R"(
consumers:
  - name: research
    owned: 32
    share: 2
    limit: 48
    lend: false
    borrow: true
    reclaim_grace: 60
    children:
      - name: vision
        owned: 16
)",
                                        "plan.yaml");
  ASSERT_TRUE(tree.ok()) << tree.status().ToString();
  ASSERT_EQ(tree->size(), 3);
  int research = tree->Find("/research");
  int vision = tree->Find("/research/vision");
  ASSERT_GT(research, 0);
  ASSERT_GT(vision, 0);
  EXPECT_EQ(tree->node(vision).parent, research);
  EXPECT_EQ(tree->node(vision).name, "vision");

  const ConsumerPlan& r = tree->node(research).plan;
  EXPECT_EQ(r.owned, 32);
  EXPECT_EQ(r.share, 2.0);
  EXPECT_EQ(r.limit, 48);
  EXPECT_FALSE(r.lend);
  EXPECT_TRUE(r.borrow);
  EXPECT_EQ(r.reclaim_grace, 60.0);
}

TEST(PlanParserTest, OmittedFieldsTakeTheirDefaults) {
  Result<ConsumerTree> tree = ParsePlan("consumers:\n  - name: solo\n", "plan.yaml");
  ASSERT_TRUE(tree.ok()) << tree.status().ToString();
  const ConsumerPlan& p = tree->node(tree->Find("/solo")).plan;
  EXPECT_EQ(p.owned, 0);
  EXPECT_EQ(p.share, 1.0);
  EXPECT_FALSE(p.limit.has_value());
  EXPECT_TRUE(p.lend);
  EXPECT_TRUE(p.borrow);
  EXPECT_EQ(p.reclaim_grace, 30.0);
}

TEST(PlanParserTest, AnEmptyListIsAPlanWithOnlyTheRoot) {
  Result<ConsumerTree> tree = ParsePlan("consumers: []\n", "plan.yaml");
  ASSERT_TRUE(tree.ok()) << tree.status().ToString();
  EXPECT_EQ(tree->size(), 1);
}

TEST(PlanParserTest, ReclaimGraceAcceptsSecondsAndDurations) {
  struct Case {
    const char* text;
    double seconds;
  };
  for (const Case& c : {Case{"45", 45}, Case{"2.5", 2.5}, Case{"90s", 90}, Case{"2m", 120},
                        Case{"1h", 3600}, Case{"\"1h30m\"", 5400}}) {
    Result<ConsumerTree> tree = ParsePlan(
        std::string("consumers:\n  - name: a\n    reclaim_grace: ") + c.text + "\n", "plan.yaml");
    ASSERT_TRUE(tree.ok()) << c.text << ": " << tree.status().ToString();
    EXPECT_EQ(tree->node(1).plan.reclaim_grace, c.seconds) << c.text;
  }
}

TEST(PlanParserTest, RunAsIsInheritedByChildren) {
  Result<ConsumerTree> tree = ParsePlan(
      "consumers:\n  - name: a\n    run_as: team-a\n    children:\n      - name: x\n      - name: y\n"
      "        run_as: _svc\n  - name: b\n",
      "plan.yaml");
  ASSERT_TRUE(tree.ok()) << tree.status().ToString();
  EXPECT_EQ(tree->RunAs(tree->Find("/a")), "team-a");
  EXPECT_EQ(tree->RunAs(tree->Find("/a/x")), "team-a");
  EXPECT_EQ(tree->RunAs(tree->Find("/a/y")), "_svc");
  EXPECT_EQ(tree->RunAs(tree->Find("/b")), "");  // the agent's own user
}

TEST(PlanParserTest, TopLevelConsumersMayOwnAnything) {
  // The root stands for the cluster, whose size the plan does not know.
  Result<ConsumerTree> tree =
      ParsePlan("consumers:\n  - {name: a, owned: 500}\n  - {name: b, owned: 700}\n", "plan.yaml");
  EXPECT_TRUE(tree.ok()) << tree.status().ToString();
}

struct ErrorCase {
  const char* name;
  const char* yaml;
  const char* message;
};

class PlanParserErrorTest : public testing::TestWithParam<ErrorCase> {};

TEST_P(PlanParserErrorTest, NamesFileLineAndField) {
  Result<ConsumerTree> tree = ParsePlan(GetParam().yaml, "plan.yaml");
  ASSERT_FALSE(tree.ok());
  EXPECT_EQ(tree.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(tree.status().message(), GetParam().message);
}

// Line numbers are counted from the line after R"( as line 1.
const ErrorCase kPlanErrors[] = {
    {"RunAsNotAUser", R"(consumers:
  - name: a
    run_as: "Root; rm"
)",
     "plan.yaml:3: consumers[0].run_as: \"Root; rm\" is not a user name (lower-case letters, digits, _ and -, at "
     "most 32, not starting with a digit or -)"},
    {"Negative", R"(consumers:
  - name: a
  - name: b
  - name: c
    share: 1
    lend: true
    owned: -1
)",
     "plan.yaml:7: consumers[2].owned: -1 is negative"},
    {"NotANumber", R"(consumers:
  - name: a
    children: [{name: x}, {name: y, share: abc}]
)",
     "plan.yaml:3: consumers[0].children[1].share: \"abc\" is not a number"},
    {"QuotedNotANumber", R"(consumers:
  - name: a
    owned: "many"
)",
     "plan.yaml:3: consumers[0].owned: \"many\" is not a number"},
    {"Fraction", "consumers:\n  - name: a\n    owned: 1.5\n",
     "plan.yaml:3: consumers[0].owned: 1.5 is not a whole number"},
    {"OutOfRange", "consumers:\n  - name: a\n    owned: 99999999999999999999\n",
     "plan.yaml:3: consumers[0].owned: 99999999999999999999 is out of range"},
    {"AboveMaximum", "consumers:\n  - name: a\n    limit: 2000000\n",
     "plan.yaml:3: consumers[0].limit: 2000000 is above the maximum 1000000"},
    {"NoValue", "consumers:\n  - name: a\n    owned:\n  - name: b\n",
     "plan.yaml:3: consumers[0].owned: expected a number, got nothing"},
    {"ZeroShare", "consumers:\n  - name: a\n    share: 0\n",
     "plan.yaml:3: consumers[0].share: 0 must be positive"},
    {"UnknownFieldWithSuggestion", "consumers:\n  - name: a\n    onwed: 4\n",
     "plan.yaml:3: consumers[0].onwed: unknown field; did you mean \"owned\"?"},
    {"UnknownFieldWithoutSuggestion", "consumers:\n  - name: a\n    colour: red\n",
     "plan.yaml:3: consumers[0].colour: unknown field (expected one of: name, owned, share, "
     "limit, lend, borrow, reclaim_grace, run_as, children)"},
    {"UnknownTopLevelField", "consumer:\n  - name: a\n",
     "plan.yaml:1: consumer: unknown field; did you mean \"consumers\"?"},
    {"OddKeyIsQuotedInPath", "consumers:\n  - name: a\n    \"x.y\": 1\n",
     "plan.yaml:3: consumers[0].\"x.y\": unknown field (expected one of: name, owned, share, "
     "limit, lend, borrow, reclaim_grace, run_as, children)"},
    {"DuplicateField", "consumers:\n  - name: a\n    owned: 1\n    owned: 2\n",
     "plan.yaml:4: consumers[0].owned: duplicate field (first at line 3)"},
    {"MissingName", "consumers:\n  - name: a\n  - owned: 4\n    share: 2\n",
     "plan.yaml:3: consumers[1]: missing required field \"name\""},
    {"EmptyName", "consumers:\n  - name: \"\"\n",
     "plan.yaml:2: consumers[0].name: the name is empty"},
    {"NameWithSlash", "consumers:\n  - name: a/b\n",
     "plan.yaml:2: consumers[0].name: \"a/b\" may only hold letters, digits, '-', '_' and '.'"},
    {"NameIsAList", "consumers:\n  - name: [a]\n",
     "plan.yaml:2: consumers[0].name: expected a string, got a list"},
    {"DuplicateTopLevelSibling", "consumers:\n  - name: a\n  - name: b\n  - name: a\n",
     "plan.yaml:4: consumers[2].name: duplicate consumer \"a\" under / (first at line 2)"},
    {"DuplicateNestedSibling", R"(consumers:
  - name: research
    owned: 8
    children:
      - name: vision
      - name: nlp
      - name: vision
)",
     "plan.yaml:7: consumers[0].children[2].name: duplicate consumer \"vision\" under /research "
     "(first at line 5)"},
    {"MapWhereAListIsExpected", "consumers:\n  name: a\n  owned: 3\n",
     "plan.yaml:2: consumers: expected a list, got a map"},
    {"ChildrenIsAMap", "consumers:\n  - name: a\n    children:\n      name: b\n",
     "plan.yaml:4: consumers[0].children: expected a list, got a map"},
    {"ChildrenIsEmpty", "consumers:\n  - name: a\n    children:\n",
     "plan.yaml:3: consumers[0].children: expected a list, got nothing"},
    {"ConsumerIsAScalar", "consumers:\n  - research\n",
     "plan.yaml:2: consumers[0]: expected a map, got \"research\""},
    {"KeyIsAList", "consumers:\n  - name: a\n    ? [x]\n    : 1\n",
     "plan.yaml:3: consumers[0]: field names must be plain words, got a list"},
    {"BadBool", "consumers:\n  - name: a\n    borrow: maybe\n",
     "plan.yaml:3: consumers[0].borrow: \"maybe\" is not true or false"},
    {"BadDuration", "consumers:\n  - name: a\n    reclaim_grace: soon\n",
     "plan.yaml:3: consumers[0].reclaim_grace: \"soon\" is not a duration (write seconds, or "
     "e.g. 90s, 2m, 1h)"},
    {"NegativeDuration", "consumers:\n  - name: a\n    reclaim_grace: -2m\n",
     "plan.yaml:3: consumers[0].reclaim_grace: -2m is negative"},
    {"LimitBelowOwned", "consumers:\n  - name: a\n    owned: 16\n    limit: 8\n",
     "plan.yaml:4: consumers[0].limit: 8 is below owned 16"},
    {"ChildrenOwnMoreThanParent", R"(consumers:
  - name: other
  - name: research
    owned: 32
    children:
      - name: vision
        owned: 24
      - name: nlp
        owned: 16
)",
     "plan.yaml:5: consumers[1].children: children own 40 GPUs in total, more than the 32 owned "
     "by /research"},
    {"DocumentIsAList", "- name: a\n",
     "plan.yaml:1: expected a map with a \"consumers\" list, got a list"},
    {"MissingConsumers", "# nothing but a comment\n{}\n",
     "plan.yaml:2: missing required field \"consumers\""},
    {"EmptyFile", "", "plan.yaml:1: the file is empty"},
    {"OnlyComments", "# a plan\n\n# to be written\n", "plan.yaml:1: the file is empty"},
    {"TwoDocuments", "consumers: []\n---\nconsumers: []\n",
     "plan.yaml:2: a second YAML document; put everything in one"},
    // yaml-cpp's LoadAll loops forever on this; found by fuzz/plan_fuzz.cc.
    {"SyntaxErrorStrayCommaAfterMap", "consumers: []\n, x\n", "plan.yaml:2: syntax error: end of map not found"},
    {"SyntaxErrorStrayCommaFirst", ", x\n", "plan.yaml:1: syntax error: unexpected \",\""},
    {"SyntaxErrorUnclosedFlow", "consumers: [\n  {name: a}\n",
     "plan.yaml:3: syntax error: end of sequence flow not found"},
    {"SyntaxErrorBadEscape", "consumers:\n  - name: \"a\\qb\"\n",
     "plan.yaml:2: syntax error: unknown escape character: q"},
    {"SyntaxErrorTab", "consumers:\n\t- name: a\n", "plan.yaml:2: syntax error: illegal block entry"},
    {"CyclicAlias", "consumers: &a [{name: x, children: *a}]\n",
     "plan.yaml:1: consumers[0].children[0].children[0].children[0].children[0].children[0]"
     ".children[0].children[0].children[0].children[0].children[0].children[0].children[0]"
     ".children[0].children[0].children[0].children: consumers nest deeper than 16 levels"},
};

INSTANTIATE_TEST_SUITE_P(PlanParserTest, PlanParserErrorTest, testing::ValuesIn(kPlanErrors),
                         [](const testing::TestParamInfo<ErrorCase>& info) { return info.param.name; });

// "a" nested `levels` deep, one consumer per level, each owning nothing.
std::string Chain(int levels) {
  std::string yaml = "consumers:\n";
  std::string indent = "  ";
  for (int i = 0; i < levels; ++i) {
    yaml += indent + "- name: c" + std::to_string(i) + "\n";
    if (i + 1 < levels) yaml += indent + "  children:\n";
    indent += "    ";
  }
  return yaml;
}

TEST(PlanParserTest, SixteenLevelsAreAllowed) {
  Result<ConsumerTree> tree = ParsePlan(Chain(16), "plan.yaml");
  ASSERT_TRUE(tree.ok()) << tree.status().ToString();
  EXPECT_EQ(tree->size(), 17);
}

TEST(PlanParserTest, SeventeenLevelsAreRefused) {
  Result<ConsumerTree> tree = ParsePlan(Chain(17), "plan.yaml");
  ASSERT_FALSE(tree.ok());
  std::string path = "consumers[0]";
  for (int i = 0; i < 15; ++i) path += ".children[0]";
  // Consumer i is named on line 2 + 2i, so level 16's `children:` is on line 33.
  EXPECT_EQ(tree.status().message(),
            "plan.yaml:33: " + path + ".children: consumers nest deeper than 16 levels");
}

TEST(PlanParserTest, TenThousandConsumersAreAllowedButNotMore) {
  std::string yaml = "consumers:\n";
  for (int i = 0; i < kMaxPlanConsumers; ++i) yaml += "  - name: c" + std::to_string(i) + "\n";
  ASSERT_TRUE(ParsePlan(yaml, "plan.yaml").ok());
  yaml += "  - name: one-too-many\n";
  Result<ConsumerTree> tree = ParsePlan(yaml, "plan.yaml");
  ASSERT_FALSE(tree.ok());
  EXPECT_EQ(tree.status().message(), "plan.yaml:10002: consumers[10000]: more than 10000 consumers");
}

TEST(PlanParserTest, AliasesCannotMultiplyConsumersPastTheLimit) {
  // Each level lists two consumers sharing one children list through an alias:
  // 2^16 consumers from a few hundred bytes, unless aliases count every time.
  std::string list = "[{name: a}, {name: b}]";
  for (int i = 1; i <= 15; ++i) {
    std::string anchor = "n" + std::to_string(i);
    list = "[{name: a, children: &" + anchor + " " + list + "}, {name: b, children: *" + anchor + "}]";
  }
  Result<ConsumerTree> tree = ParsePlan("consumers: " + list + "\n", "plan.yaml");
  ASSERT_FALSE(tree.ok());
  const std::string& m = tree.status().message();
  EXPECT_EQ(m.rfind("plan.yaml:1: consumers[", 0), 0u) << m;
  EXPECT_TRUE(m.ends_with(": more than 10000 consumers")) << m;
}

TEST(PlanParserTest, InputOverOneMebibyteIsRefused) {
  std::string yaml = "consumers: []\n" + std::string(1 << 20, '#');
  Result<ConsumerTree> tree = ParsePlan(yaml, "plan.yaml");
  ASSERT_FALSE(tree.ok());
  EXPECT_EQ(tree.status().message(), "plan.yaml: the file is larger than 1 MiB (1048576 bytes)");
}

TEST(PlanParserTest, DeeplyNestedFlowCollectionsAreASyntaxError) {
  Result<ConsumerTree> tree = ParsePlan("consumers: " + std::string(100000, '['), "plan.yaml");
  ASSERT_FALSE(tree.ok());
  EXPECT_EQ(tree.status().message(), "plan.yaml:1: syntax error: nesting is too deep");
}

TEST(PlanParserTest, ExamplePlanParses) {
  Result<ConsumerTree> tree = LoadPlanFile(SourceDir() + "/examples/plan.yaml");
  ASSERT_TRUE(tree.ok()) << tree.status().ToString();
  for (const char* path : {"/research", "/research/vision", "/research/nlp", "/production"}) {
    EXPECT_GE(tree->Find(path), 0) << path;
  }
  const ConsumerPlan& research = tree->node(tree->Find("/research")).plan;
  EXPECT_EQ(research.owned, 32);
  EXPECT_EQ(research.share, 2.0);
  EXPECT_EQ(research.limit, 48);
  EXPECT_EQ(tree->node(tree->Find("/research/vision")).plan.reclaim_grace, 120.0);
  EXPECT_FALSE(tree->node(tree->Find("/production")).plan.borrow);
  EXPECT_TRUE(tree->Validate().ok());
}

TEST(PlanParserTest, TwoTeamsExampleParses) {
  Result<ConsumerTree> tree = LoadPlanFile(SourceDir() + "/examples/two-teams-plan.yaml");
  ASSERT_TRUE(tree.ok()) << tree.status().ToString();
  EXPECT_EQ(tree->size(), 4);
  EXPECT_EQ(tree->node(tree->Find("/teams")).plan.owned, 4);
  for (const char* path : {"/teams/alpha", "/teams/beta"}) {
    int i = tree->Find(path);
    ASSERT_GE(i, 0) << path;
    EXPECT_EQ(tree->node(i).plan.owned, 2) << path;
    EXPECT_EQ(tree->node(i).plan.share, 1.0) << path;
    EXPECT_EQ(tree->node(i).plan.reclaim_grace, 30.0) << path;
  }
}

TEST(PlanParserTest, MissingFileIsNotFound) {
  Result<ConsumerTree> tree = LoadPlanFile(SourceDir() + "/examples/no-such-plan.yaml");
  ASSERT_FALSE(tree.ok());
  EXPECT_EQ(tree.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(tree.status().message(), SourceDir() + "/examples/no-such-plan.yaml: no such file");
}

}  // namespace
}  // namespace drover

#include "spec/wmla_import.h"

#include <gtest/gtest.h>

#include "spec/experiment_parser.h"

namespace drover {
namespace {

const char* kBody = R"({
  "hpoName": "Resnet-HPO",
  "algoDef": {"algorithm": "Hyperband", "maxRunTime": 90, "maxJobNum": 20, "maxParalleJobNum": 4,
              "objectiveMetric": "val_loss", "objective": "minimize", "hyperbandEta": 3, "maxEpoch": 9,
              "algoParams": [{"name": "ConfigSpaceSeed", "value": "7"}, {"name": "randomState", "value": "1"}]},
  "hyperParams": [
    {"name": "lr", "type": "Range", "dataType": "DOUBLE", "minDbVal": 0.0001, "maxDbVal": 0.1, "power": 10},
    {"name": "layers", "type": "Range", "dataType": "INT", "minIntVal": 2, "maxIntVal": 8, "step": 2},
    {"name": "opt", "type": "Discrete", "dataType": "STR", "strVals": ["adam", "sgd"]},
    {"name": "bs", "type": "Discrete", "dataType": "INT", "intVals": [128, 32, 64]}
  ],
  "modelSession": {"modelId": "m1"},
  "notifyUrl": "http://x"
})";

const char* kTrial = "resources: {gpus: 1}\ncommand: [python3, train.py, --lr, \"${params.lr}\", --epochs, \"${resource.epochs}\"]\n";

TEST(WmlaImportTest, MapsTheBodyToAnExperimentThatParses) {
  auto imported = ImportWmla(kBody, "hpo.json", kTrial, "", "/research");
  ASSERT_TRUE(imported.ok()) << imported.status().ToString();
  auto e = ParseExperimentSpec(imported->experiment_yaml, "imported.yaml");
  ASSERT_TRUE(e.ok()) << e.status().ToString() << "\n" << imported->experiment_yaml;
  EXPECT_EQ(e->name, "resnet-hpo");
  EXPECT_EQ(e->consumer, "/research");
  EXPECT_EQ(e->algorithm, "hyperband");
  EXPECT_EQ(e->search.metric, "val_loss");
  EXPECT_FALSE(e->search.maximize);
  EXPECT_EQ(e->search.max_trials, 20);
  EXPECT_EQ(e->search.max_parallel, 4);
  EXPECT_EQ(e->search.max_time_s, 90 * 60);
  EXPECT_EQ(e->search.seed, 7u);
  EXPECT_EQ(e->search.stopping.max_resource, 9);
  ASSERT_EQ(e->search.space.size(), 4);
  EXPECT_EQ(e->search.space.params()[e->search.space.Find("lr")].type, hpo::ParamType::kLog);
  EXPECT_EQ(e->search.space.params()[e->search.space.Find("layers")].step, 2);
  EXPECT_EQ(e->search.space.params()[e->search.space.Find("opt")].type, hpo::ParamType::kCategorical);
  EXPECT_EQ(e->search.space.params()[e->search.space.Find("bs")].values, (std::vector<std::string>{"32", "64", "128"}));
  // What has no counterpart is said, not dropped.
  std::string notes;
  for (const std::string& n : imported->notes) notes += n + "\n";
  EXPECT_NE(notes.find("notifyUrl: not mapped"), std::string::npos) << notes;
  EXPECT_NE(notes.find("randomState: not mapped"), std::string::npos) << notes;
  EXPECT_NE(notes.find("modelSession: not mapped"), std::string::npos) << notes;
}

TEST(WmlaImportTest, BadBodiesNameTheField) {
  struct Case {
    std::string body;
    std::string error;
  };
  const std::vector<Case> cases = {
      {"[1]", "hpo.json: expected a JSON object"},
      {R"({"hyperParams": [{}]})", "hpo.json: algoDef: missing"},
      {R"({"algoDef": {"algorithm": "Genetic", "objectiveMetric": "l"}, "hyperParams": [{"name": "a"}]})",
       "algoDef.algorithm: \"Genetic\" is not one of"},
      {R"({"algoDef": {"algorithm": "Random", "objectiveMetric": "l"},
           "hyperParams": [{"name": "a", "type": "Range", "dataType": "DOUBLE", "minDbVal": 1}]})",
       "hyperParams[0]: a DOUBLE Range needs minDbVal and maxDbVal"},
      {R"({"algoDef": {"algorithm": "Random", "objectiveMetric": "l"},
           "hyperParams": [{"name": "a", "type": "Discrete", "dataType": "STR", "strVals": []}]})",
       "hyperParams[0].strVals: expected a non-empty list"},
  };
  for (const Case& c : cases) {
    auto r = ImportWmla(c.body, "hpo.json", kTrial, "x", "");
    ASSERT_FALSE(r.ok()) << c.error;
    EXPECT_NE(r.status().message().find(c.error), std::string::npos) << r.status().message();
  }
  EXPECT_FALSE(ImportWmla(kBody, "hpo.json", "- not a map", "x", "").ok());
}

}  // namespace
}  // namespace drover

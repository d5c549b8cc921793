#include "spec/experiment_parser.h"

#include <gtest/gtest.h>

namespace drover {
namespace {

const std::string kGood = R"(name: fmnist-cnn
consumer: /research/vision
search:
  algorithm: asha
  metric: val_acc
  goal: maximize
  max_trials: 32
  max_parallel: 2
  max_time: 2h
  seed: 1
  resource: {name: epochs, min: 1, max: 6, reduction_factor: 3}
parameters:
  lr: {type: log, min: 1e-3, max: 0.5}
  momentum: {type: double, min: 0.0, max: 0.99}
  batch_size: {type: categorical, values: [32, 64, 128, 256]}
  channels: {type: int, min: 4, max: 16, step: 4}
trial:
  workers: {min: 1, max: 2}
  resources: {gpus: 1}
  command: [python3, train.py, --lr, "${params.lr}", --bs, "${params.batch_size}", --epochs, "${resource.epochs}"]
  env: {RUN: "${experiment.name}-${trial.index}"}
)";

TEST(ExperimentParserTest, ReadsEveryField) {
  auto e = ParseExperimentSpec(kGood, "exp.yaml");
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->name, "fmnist-cnn");
  EXPECT_EQ(e->consumer, "/research/vision");
  EXPECT_EQ(e->search.sampler, "tpe");
  EXPECT_EQ(e->search.early_stopping, "asha");
  EXPECT_EQ(e->search.metric, "val_acc");
  EXPECT_TRUE(e->search.maximize);
  EXPECT_EQ(e->search.max_trials, 32);
  EXPECT_EQ(e->search.max_parallel, 2);
  EXPECT_EQ(e->search.max_time_s, 7200);
  EXPECT_EQ(e->search.seed, 1u);
  EXPECT_EQ(e->search.stopping.max_resource, 6);
  EXPECT_EQ(e->search.space.size(), 4);
  EXPECT_EQ(e->search.space.params()[3].step, 4);
  EXPECT_EQ(e->trial.spec.workers.max, 2);
}

TEST(ExperimentParserTest, ATrialJobHasTheConfigurationPutIn) {
  auto e = ParseExperimentSpec(kGood, "exp.yaml");
  ASSERT_TRUE(e.ok());
  std::string yaml;
  ParsedJob job = TrialJob(*e, {0.01, 0.5, 2, 8}, 7, &yaml);
  EXPECT_EQ(job.spec.name, "fmnist-cnn-7");
  EXPECT_EQ(job.spec.consumer, "/research/vision");
  EXPECT_EQ(job.argv, (std::vector<std::string>{"python3", "train.py", "--lr", "0.01", "--bs", "128", "--epochs", "6"}));
  EXPECT_EQ(job.env.at("RUN"), "fmnist-cnn-7");
  // The YAML is a job spec that parses back to the same job.
  auto back = ParseJobSpec(yaml, "trial.yaml");
  ASSERT_TRUE(back.ok()) << back.status().ToString() << "\n" << yaml;
  EXPECT_EQ(back->argv, job.argv);
  EXPECT_EQ(back->spec.workers.max, 2);
  EXPECT_EQ(back->spec.consumer, "/research/vision");
}

// Each bad spec gets a located error; the unchanged spec is the control (above).
TEST(ExperimentParserTest, BadSpecsNameTheLineAndField) {
  auto replace = [](std::string from, const std::string& to) {
    std::string s = kGood;
    size_t at = s.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return s.replace(at, from.size(), to);
  };
  struct Case {
    std::string yaml;
    std::string error;
  };
  const std::vector<Case> cases = {
      {replace("algorithm: asha", "algorithm: bayes"),
       "exp.yaml:4: search.algorithm: unknown algorithm \"bayes\"; expected random, grid, tpe, asha or hyperband"},
      {replace("type: log, min: 1e-3", "type: log, min: 0.9"), "exp.yaml:13: parameters.lr: empty range: min is above max"},
      {replace("type: double, min: 0.0", "type: float, min: 0.0"), "exp.yaml:14: parameters.momentum.type: unknown type \"float\""},
      {replace("values: [32, 64, 128, 256]", "values: []"), "exp.yaml:15: parameters.batch_size: values: expected at least one value"},
      {replace("\"${params.lr}\"", "\"${params.lrr}\""),
       "exp.yaml:20: trial.command: ${params.lrr}: no parameter \"lrr\" (parameters: lr, momentum, batch_size, channels)"},
      {replace("\"${resource.epochs}\"", "\"${resource.steps}\""), "trial.command: ${resource.steps}: the resource is \"epochs\""},
      {replace("algorithm: asha", "algorithm: grid"),
       "exp.yaml:13: parameters.lr: a grid needs discrete parameters, and this log range is continuous"},
      {replace("  resource: {name: epochs, min: 1, max: 6, reduction_factor: 3}\n", ""),
       "search.resource: asha stops trials at resource levels"},
      {replace("reduction_factor: 3", "reduction_factor: 1"), "exp.yaml:11: search.resource.reduction_factor: expected at least 2"},
      {replace("goal: maximize", "goal: up"), "exp.yaml:6: search.goal: \"up\" is not maximize or minimize"},
      {replace("name: fmnist-cnn", "name: Fmnist"), "exp.yaml:1: name: \"Fmnist\" must be lowercase"},
      {replace("  metric: val_acc\n", ""), "search: missing required field \"metric\""},
      {replace("  workers: {min: 1, max: 2}", "  workers: {min: 3, max: 2}"), "exp.yaml:18: trial.workers.max: 2 is below workers.min 3"},
      {replace("  workers: {min: 1, max: 2}", "  consumer: /other"), "trial.consumer: trials run in the experiment's consumer"},
  };
  for (const Case& c : cases) {
    auto e = ParseExperimentSpec(c.yaml, "exp.yaml");
    ASSERT_FALSE(e.ok()) << c.error;
    EXPECT_EQ(e.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(e.status().message().find(c.error), std::string::npos) << e.status().message() << "\n want: " << c.error;
  }
}

}  // namespace
}  // namespace drover

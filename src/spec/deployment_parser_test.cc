#include "spec/deployment_parser.h"

#include <cstdlib>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace drover {
namespace {

std::string SourceDir() {
  const char* dir = std::getenv("DROVER_SOURCE_DIR");
  return dir != nullptr ? dir : DROVER_SOURCE_DIR_FALLBACK;
}

const std::string kGood = R"(name: fmnist
consumer: /research/vision
priority: 10
model:
  path: /models/fmnist.pt
  input: {name: image, datatype: FP16, shape: [1, 28, 28]}
  output: {name: logits}
replicas: {min: 0, max: 4}
resources: {gpus: 1, cpus: 2, memory: 2Gi}
runtime: {executors: 2, threads: 3}
batching: {max_batch_size: 32, max_queue_delay_us: 500, preferred_batch_sizes: [8, 16], max_queue: 256}
autoscale: {target_in_flight: 6.5, upscale_delay: 2s, downscale_delay: 1m, scale_to_zero_after: 5m, window: 10s}
)";

TEST(DeploymentParserTest, FullSpecParses) {
  Result<DeploymentSpec> d = ParseDeploymentSpec(kGood, "dep.yaml");
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->name, "fmnist");
  EXPECT_EQ(d->consumer, "/research/vision");
  EXPECT_EQ(d->priority, 10);
  EXPECT_EQ(d->model_path, "/models/fmnist.pt");
  EXPECT_EQ(d->input.name, "image");
  EXPECT_EQ(d->input.datatype, "FP16");
  EXPECT_EQ(d->input.shape, (std::vector<int64_t>{1, 28, 28}));
  EXPECT_EQ(d->output_name, "logits");
  EXPECT_EQ(d->min_replicas, 0);
  EXPECT_EQ(d->max_replicas, 4);
  EXPECT_EQ(d->per_replica, (Resources{1, 2000, 2048}));
  EXPECT_EQ(d->executors, 2);
  EXPECT_EQ(d->threads, 3);
  EXPECT_EQ(d->max_batch_size, 32);
  EXPECT_EQ(d->max_queue_delay_us, 500);
  EXPECT_EQ(d->preferred_batch_sizes, (std::vector<int>{8, 16}));
  EXPECT_EQ(d->max_queue, 256);
  EXPECT_EQ(d->target_in_flight, 6.5);
  EXPECT_EQ(d->upscale_delay_ms, 2000);
  EXPECT_EQ(d->downscale_delay_ms, 60'000);
  EXPECT_EQ(d->scale_to_zero_after_ms, 300'000);
  EXPECT_EQ(d->window_ms, 10'000);
}

TEST(DeploymentParserTest, OmittedFieldsTakeTheirDefaults) {
  Result<DeploymentSpec> d = ParseDeploymentSpec(R"(name: tiny
model: {path: /m.pt, input: {shape: [4]}}
replicas: {max: 2}
)",
                                                 "dep.yaml");
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->consumer, "");
  EXPECT_EQ(d->priority, 0);
  EXPECT_EQ(d->input.name, "input");
  EXPECT_EQ(d->input.datatype, "FP32");
  EXPECT_EQ(d->input.shape, (std::vector<int64_t>{4}));
  EXPECT_EQ(d->output_name, "output");
  EXPECT_EQ(d->min_replicas, 1);
  EXPECT_EQ(d->max_replicas, 2);
  EXPECT_EQ(d->per_replica, (Resources{1, 1000, 1024}));  // a job's default
  EXPECT_EQ(d->executors, 1);
  EXPECT_EQ(d->threads, 1);
  EXPECT_EQ(d->max_batch_size, 1);
  EXPECT_EQ(d->max_queue_delay_us, 0);
  EXPECT_TRUE(d->preferred_batch_sizes.empty());
  EXPECT_EQ(d->max_queue, 1024);
  EXPECT_EQ(d->target_in_flight, 8);
  EXPECT_EQ(d->window_ms, 10'000);
  EXPECT_EQ(d->upscale_delay_ms, 0);
  EXPECT_EQ(d->downscale_delay_ms, 30'000);
  EXPECT_EQ(d->scale_to_zero_after_ms, 0);  // min 1: never to zero
}

TEST(DeploymentParserTest, ReplicaBoundsAndTheScaleToZeroDefault) {
  struct Case {
    const char* replicas;
    int min, max;
    int64_t scale_to_zero_after_ms;
  };
  const Case cases[] = {
      {"3", 3, 3, 0},                  // a fixed count
      {"{min: 0}", 0, 1, 300'000},     // min 0 may scale to zero, after 5 minutes by default
      {"{min: 0, max: 4}", 0, 4, 300'000},
      {"{min: 2}", 2, 2, 0},
  };
  for (const Case& c : cases) {
    std::string yaml = std::string("name: d\nmodel: {path: /m.pt, input: {shape: [4]}}\nreplicas: ") + c.replicas + "\n";
    Result<DeploymentSpec> d = ParseDeploymentSpec(yaml, "dep.yaml");
    ASSERT_TRUE(d.ok()) << c.replicas << ": " << d.status().ToString();
    EXPECT_EQ(d->min_replicas, c.min) << c.replicas;
    EXPECT_EQ(d->max_replicas, c.max) << c.replicas;
    EXPECT_EQ(d->scale_to_zero_after_ms, c.scale_to_zero_after_ms) << c.replicas;
  }
}

TEST(DeploymentParserTest, DurationsAcceptUnits) {
  struct Case {
    const char* window;
    int64_t ms;
  };
  for (const Case& c : {Case{"10s", 10'000}, Case{"1.5s", 1500}, Case{"90", 90'000}, Case{"1m30s", 90'000},
                        Case{"1h", 3'600'000}, Case{"1500ms", 1500}}) {
    std::string yaml = std::string("name: d\nmodel: {path: /m.pt, input: {shape: [4]}}\nreplicas: 1\n") +
                       "autoscale: {window: " + c.window + "}\n";
    Result<DeploymentSpec> d = ParseDeploymentSpec(yaml, "dep.yaml");
    ASSERT_TRUE(d.ok()) << c.window << ": " << d.status().ToString();
    EXPECT_EQ(d->window_ms, c.ms) << c.window;
  }
}

// Each bad spec gets its exact located error; kGood itself parses (FullSpecParses).
TEST(DeploymentParserTest, BadSpecsNameTheLineAndField) {
  auto replace = [](const std::string& from, const std::string& to) {
    std::string s = kGood;
    size_t at = s.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return at == std::string::npos ? s : s.replace(at, from.size(), to);
  };
  struct Case {
    std::string yaml;
    std::string error;
  };
  const std::vector<Case> cases = {
      {replace("  path: /models", "  pth: /models"), "dep.yaml:5: model.pth: unknown field; did you mean \"path\"?"},
      {replace("replicas: {", "replica: {"), "dep.yaml:8: replica: unknown field; did you mean \"replicas\"?"},
      {replace("{gpus: 1,", "{gpu: 1,"), "dep.yaml:9: resources.gpu: unknown field; did you mean \"gpus\"?"},
      {replace("name: fmnist", "name: 1fmnist"),
       "dep.yaml:1: name: \"1fmnist\" must be lowercase letters, digits and '-', starting with a letter and ending "
       "with a letter or digit"},
      {replace("name: fmnist", "name: Fmnist"),
       "dep.yaml:1: name: \"Fmnist\" must be lowercase letters, digits and '-', starting with a letter and ending "
       "with a letter or digit"},
      {replace("name: fmnist", "name: " + std::string(41, 'a')),
       "dep.yaml:1: name: \"" + std::string(41, 'a') + "\" is longer than 40 characters"},
      {replace("name: fmnist\n", ""), "dep.yaml:1: missing required field \"name\""},
      {replace("replicas: {min: 0, max: 4}\n", ""), "dep.yaml:1: missing required field \"replicas\""},
      {replace("  path: /models/fmnist.pt\n", ""), "dep.yaml:5: model: missing required field \"path\""},
      {replace("/models/fmnist.pt", "models/fmnist.pt"),
       "dep.yaml:5: model.path: \"models/fmnist.pt\" is not an absolute path"},
      {replace("{min: 0, max: 4}", "{min: 4, max: 2}"), "dep.yaml:8: replicas.max: 2 is below replicas.min 4"},
      {replace("{min: 0, max: 4}", "{min: 0, max: 65}"), "dep.yaml:8: replicas.max: 65 is above the maximum 64"},
      {replace("{min: 0, max: 4}", "{min: -1, max: 4}"), "dep.yaml:8: replicas.min: -1 is negative"},
      {replace("{min: 0, max: 4}", "[0, 4]"),
       "dep.yaml:8: replicas: expected a number or a map like {min: 0, max: 4}, got a list"},
      {replace("datatype: FP16", "datatype: FP64"),
       "dep.yaml:6: model.input.datatype: unknown datatype \"FP64\"; expected FP32, FP16, INT64, INT32 or BOOL"},
      {replace("shape: [1, 28, 28]", "shape: [1, 0, 28]"), "dep.yaml:6: model.input.shape[1]: 0 must be at least 1"},
      {replace("shape: [1, 28, 28]", "shape: []"),
       "dep.yaml:6: model.input.shape: expected at least one size (a sample's shape, without the batch dimension)"},
      {replace(", shape: [1, 28, 28]", ""), "dep.yaml:6: model.input: missing required field \"shape\""},
      {replace("name: image", "name: \"in put\""),
       "dep.yaml:6: model.input.name: \"in put\" must be 1 to 64 letters, digits, '_', '-', '.' or ':'"},
      {replace("executors: 2", "executors: 17"), "dep.yaml:10: runtime.executors: 17 is above the maximum 16"},
      {replace("max_batch_size: 32", "max_batch_size: 0"), "dep.yaml:11: batching.max_batch_size: 0 must be at least 1"},
      {replace("[8, 16]", "[8, 64]"),
       "dep.yaml:11: batching.preferred_batch_sizes[1]: 64 is above batching.max_batch_size 32"},
      {replace("[8, 16]", "[16, 8]"),
       "dep.yaml:11: batching.preferred_batch_sizes[1]: 8 is not above the size before it, 16"},
      {replace("max_queue: 256", "max_queue: 16"), "dep.yaml:11: batching.max_queue: 16 is below batching.max_batch_size 32"},
      {replace("{min: 0, max: 4}", "{min: 1, max: 4}"),
       "dep.yaml:12: autoscale.scale_to_zero_after: needs replicas.min 0, not 1"},
      {replace("window: 10s", "window: 0s"), "dep.yaml:12: autoscale.window: 0s must be at least 1s"},
      {replace("downscale_delay: 1m", "downscale_delay: 2h"), "dep.yaml:12: autoscale.downscale_delay: 2h is above the maximum 1h"},
      {replace("downscale_delay: 1m", "downscale_delay: soon"),
       "dep.yaml:12: autoscale.downscale_delay: \"soon\" is not a duration (write seconds, or e.g. 90s, 2m, 1h)"},
      {replace("target_in_flight: 6.5", "target_in_flight: 0"), "dep.yaml:12: autoscale.target_in_flight: 0 must be above 0"},
      {replace("target_in_flight: 6.5", "target_in_fligth: 6.5"),
       "dep.yaml:12: autoscale.target_in_fligth: unknown field; did you mean \"target_in_flight\"?"},
  };
  for (const Case& c : cases) {
    Result<DeploymentSpec> d = ParseDeploymentSpec(c.yaml, "dep.yaml");
    ASSERT_FALSE(d.ok()) << c.error;
    EXPECT_EQ(d.status().code(), StatusCode::kInvalidArgument) << c.error;
    EXPECT_EQ(d.status().message(), c.error);
  }
}

TEST(DeploymentParserTest, TheExampleParses) {
  Result<DeploymentSpec> d = LoadDeploymentFile(SourceDir() + "/examples/deployment.yaml");
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->name, "fmnist");
  EXPECT_EQ(d->model_path, "/tmp/drover-models/fmnist.pt");
  EXPECT_EQ(d->min_replicas, 0);
  EXPECT_EQ(d->max_replicas, 2);
  EXPECT_GT(d->max_batch_size, 1);
  EXPECT_EQ(d->scale_to_zero_after_ms, 300'000);
}

TEST(DeploymentParserTest, AMissingFileIsNotFound) {
  Result<DeploymentSpec> d = LoadDeploymentFile(SourceDir() + "/examples/no-such-deployment.yaml");
  EXPECT_EQ(d.status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace drover

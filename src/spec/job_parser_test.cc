#include "spec/job_parser.h"

#include <cstdlib>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "spec/plan_parser.h"

namespace drover {
namespace {

std::string SourceDir() {
  const char* dir = std::getenv("DROVER_SOURCE_DIR");
  return dir != nullptr ? dir : DROVER_SOURCE_DIR_FALLBACK;
}

TEST(JobParserTest, FullSpecParses) {
  Result<ParsedJob> job = ParseJobSpec(R"(
name: resnet-train
consumer: /research/vision
user: alice
priority: 10
workers: {min: 1, max: 4}
resources: {gpus: 2, cpus: 4, memory: 16Gi}
command: ["python3", "train.py", "--epochs", "3"]
)",
                                       "job.yaml");
  ASSERT_TRUE(job.ok()) << job.status().ToString();
  const JobSpec& spec = job->spec;
  EXPECT_EQ(spec.name, "resnet-train");
  EXPECT_EQ(spec.consumer, "/research/vision");
  EXPECT_EQ(spec.user, "alice");
  EXPECT_EQ(spec.priority, 10);
  EXPECT_EQ(spec.workers, (WorkerBounds{1, 4}));
  EXPECT_FALSE(spec.workers.rigid());
  EXPECT_EQ(spec.per_worker, (Resources{2, 4000, 16384}));
  EXPECT_EQ(job->argv, (std::vector<std::string>{"python3", "train.py", "--epochs", "3"}));
  EXPECT_EQ(spec.command, "python3 train.py --epochs 3");
}

TEST(JobParserTest, OmittedFieldsTakeTheirDefaults) {
  Result<ParsedJob> job = ParseJobSpec("name: tiny\n", "job.yaml");
  ASSERT_TRUE(job.ok()) << job.status().ToString();
  const JobSpec defaults;
  EXPECT_EQ(job->spec.consumer, "/");
  EXPECT_EQ(job->spec.user, "");
  EXPECT_EQ(job->spec.priority, 0);
  EXPECT_EQ(job->spec.workers, (WorkerBounds{1, 1}));
  EXPECT_EQ(job->spec.per_worker, defaults.per_worker);
  EXPECT_EQ(job->spec.command, "");
  EXPECT_TRUE(job->argv.empty());
}

TEST(JobParserTest, PlainWorkerCountMakesARigidJob) {
  Result<ParsedJob> job = ParseJobSpec("name: r\nworkers: 8\n", "job.yaml");
  ASSERT_TRUE(job.ok()) << job.status().ToString();
  EXPECT_EQ(job->spec.workers, (WorkerBounds{8, 8}));
  EXPECT_TRUE(job->spec.workers.rigid());
}

TEST(JobParserTest, WorkerBoundsDefaultMinToOneAndMaxToMin) {
  struct Case {
    const char* workers;
    WorkerBounds want;
  };
  for (const Case& c : {Case{"{max: 4}", {1, 4}}, Case{"{min: 3}", {3, 3}}, Case{"{}", {1, 1}}}) {
    Result<ParsedJob> job = ParseJobSpec(std::string("name: j\nworkers: ") + c.workers + "\n", "job.yaml");
    ASSERT_TRUE(job.ok()) << c.workers << ": " << job.status().ToString();
    EXPECT_EQ(job->spec.workers, c.want) << c.workers;
  }
}

TEST(JobParserTest, ResourcesAcceptUnits) {
  struct Case {
    const char* resources;
    Resources want;  // gpus, cpu_millis, memory_mib
  };
  const Case cases[] = {
      {"{gpus: 0, cpus: 500m, memory: 512Mi}", {0, 500, 512}},
      {"{cpus: 0.5, memory: 1G}", {1, 500, 954}},  // 10^9 bytes, rounded up to MiB
      {"{cpus: 2, memory: 2048}", {1, 2000, 2048}},  // a plain number is MiB
      {"{memory: 1.5Gi}", {1, 1000, 1536}},
      {"{gpus: 8}", {8, 1000, 1024}},
  };
  for (const Case& c : cases) {
    Result<ParsedJob> job = ParseJobSpec(std::string("name: j\nresources: ") + c.resources + "\n", "job.yaml");
    ASSERT_TRUE(job.ok()) << c.resources << ": " << job.status().ToString();
    EXPECT_EQ(job->spec.per_worker, c.want) << c.resources;
  }
}

TEST(JobParserTest, CommandStringRunsThroughTheShell) {
  Result<ParsedJob> job = ParseJobSpec("name: j\ncommand: python3 train.py > log.txt\n", "job.yaml");
  ASSERT_TRUE(job.ok()) << job.status().ToString();
  EXPECT_EQ(job->argv, (std::vector<std::string>{"/bin/sh", "-c", "python3 train.py > log.txt"}));
  EXPECT_EQ(job->spec.command, "python3 train.py > log.txt");
}

TEST(JobParserTest, CommandListIsShellQuotedForDisplay) {
  Result<ParsedJob> job =
      ParseJobSpec("name: j\ncommand: [python3, \"my file.py\", \"it's\", \"\", 3]\n", "job.yaml");
  ASSERT_TRUE(job.ok()) << job.status().ToString();
  EXPECT_EQ(job->argv, (std::vector<std::string>{"python3", "my file.py", "it's", "", "3"}));
  EXPECT_EQ(job->spec.command, R"(python3 'my file.py' 'it'\''s' '' 3)");
}

TEST(JobParserTest, ConsumerPathLosesItsTrailingSlash) {
  Result<ParsedJob> job = ParseJobSpec("name: j\nconsumer: /research/vision/\n", "job.yaml");
  ASSERT_TRUE(job.ok()) << job.status().ToString();
  EXPECT_EQ(job->spec.consumer, "/research/vision");
}

struct ErrorCase {
  const char* name;
  const char* yaml;
  const char* message;
};

class JobParserErrorTest : public testing::TestWithParam<ErrorCase> {};

TEST_P(JobParserErrorTest, NamesFileLineAndField) {
  Result<ParsedJob> job = ParseJobSpec(GetParam().yaml, "job.yaml");
  ASSERT_FALSE(job.ok());
  EXPECT_EQ(job.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(job.status().message(), GetParam().message);
}

const ErrorCase kJobErrors[] = {
    {"MinWorkersZero", "name: j\nconsumer: /a\nuser: bob\nworkers: {min: 0, max: 4}\n",
     "job.yaml:4: workers.min: 0 must be at least 1"},
    {"MaxBelowMin", "name: j\nworkers:\n  min: 4\n  max: 2\n",
     "job.yaml:4: workers.max: 2 is below workers.min 4"},
    {"RigidZero", "name: j\nworkers: 0\n", "job.yaml:2: workers: 0 must be at least 1"},
    {"TooManyWorkers", "name: j\nworkers: {max: 20000}\n",
     "job.yaml:2: workers.max: 20000 is above the maximum 10000"},
    {"WorkersIsAList", "name: j\nworkers: [1, 4]\n",
     "job.yaml:2: workers: expected a number or a map like {min: 1, max: 4}, got a list"},
    {"WorkersTypo", "name: j\nworkers: {min: 1, mxa: 4}\n",
     "job.yaml:2: workers.mxa: unknown field; did you mean \"max\"?"},
    {"UnknownField", "name: j\nprioriy: 3\n", "job.yaml:2: prioriy: unknown field; did you mean \"priority\"?"},
    {"UnknownFieldWithoutSuggestion", "name: j\nimage: pytorch\n",
     "job.yaml:2: image: unknown field (expected one of: name, consumer, user, priority, workers, "
     "resources, command, env, max_restarts)"},
    {"ResourcesTypo", "name: j\nresources: {gpu: 1}\n",
     "job.yaml:2: resources.gpu: unknown field; did you mean \"gpus\"?"},
    {"ResourcesIsAList", "name: j\nresources: [1, 2]\n",
     "job.yaml:2: resources: expected a map, got a list"},
    {"NegativeGpus", "name: j\nresources: {gpus: -1}\n", "job.yaml:2: resources.gpus: -1 is negative"},
    {"BadCpus", "name: j\nresources: {cpus: four}\n",
     "job.yaml:2: resources.cpus: \"four\" is not a CPU count (write e.g. 4, 0.5 or 500m)"},
    {"CpusTooFine", "name: j\nresources: {cpus: 0.0001}\n",
     "job.yaml:2: resources.cpus: 0.0001 is finer than a millicore (1m)"},
    {"BadMemory", "name: j\nresources:\n  memory: 16GB\n",
     "job.yaml:3: resources.memory: \"16GB\" is not a memory size (write e.g. 512Mi, 16Gi or 16G)"},
    {"MemoryIsAMap", "name: j\nresources:\n  memory: {size: 16}\n",
     "job.yaml:3: resources.memory: expected a memory size, got a map"},
    {"MissingName", "consumer: /a\nworkers: 2\n", "job.yaml:1: missing required field \"name\""},
    {"UppercaseName", "name: ResNet\n",
     "job.yaml:1: name: \"ResNet\" must be lowercase letters, digits and '-', starting and ending "
     "with a letter or digit"},
    {"NameEndsWithDash", "name: train-\n",
     "job.yaml:1: name: \"train-\" must be lowercase letters, digits and '-', starting and ending "
     "with a letter or digit"},
    {"LongName", "name: a234567890123456789012345678901234567890123456789012345678901234\n",
     "job.yaml:1: name: \"a234567890123456789012345678901234567890123456789012345678901234\" is "
     "longer than 63 characters"},
    {"NameIsAMap", "name: {first: j}\n", "job.yaml:1: name: expected a string, got a map"},
    {"RelativeConsumer", "name: j\nconsumer: research\n",
     "job.yaml:2: consumer: \"research\" must be a path from the root, like /research/vision"},
    {"ConsumerWithEmptyName", "name: j\nconsumer: /a//b\n",
     "job.yaml:2: consumer: \"/a//b\" has an empty name in it"},
    {"ConsumerWithBadName", "name: j\nconsumer: \"/a/b c\"\n",
     "job.yaml:2: consumer: \"/a/b c\": \"b c\" may only hold letters, digits, '-', '_' and '.'"},
    {"PriorityNotANumber", "name: j\npriority: high\n", "job.yaml:2: priority: \"high\" is not a number"},
    {"PriorityTooLow", "name: j\npriority: -2000000\n",
     "job.yaml:2: priority: -2000000 must be at least -1000000"},
    {"UserIsAList", "name: j\nuser: [a, b]\n", "job.yaml:2: user: expected a string, got a list"},
    {"CommandIsAMap", "name: j\ncommand: {run: x}\n",
     "job.yaml:2: command: expected a string or a list of strings, got a map"},
    {"CommandIsNothing", "name: j\ncommand:\n",
     "job.yaml:2: command: expected a string or a list of strings, got nothing"},
    {"CommandWordIsAMap", "name: j\ncommand:\n  - python3\n  - {file: x}\n",
     "job.yaml:4: command[1]: expected a string, got a map"},
    {"CommandListIsEmpty", "name: j\ncommand: []\n", "job.yaml:2: command: the list is empty"},
    {"CommandStringIsEmpty", "name: j\ncommand: \"\"\n", "job.yaml:2: command: the command is empty"},
    {"DocumentIsAList", "- name: j\n", "job.yaml:1: expected a map, got a list"},
    {"DocumentIsAScalar", "hello\n", "job.yaml:1: expected a map, got \"hello\""},
    {"DuplicateField", "name: j\nworkers: 1\nworkers: 2\n",
     "job.yaml:3: workers: duplicate field (first at line 2)"},
    {"SyntaxError", "name: j\ncommand: [python3\n", "job.yaml:3: syntax error: end of sequence flow not found"},
};

INSTANTIATE_TEST_SUITE_P(JobParserTest, JobParserErrorTest, testing::ValuesIn(kJobErrors),
                         [](const testing::TestParamInfo<ErrorCase>& info) { return info.param.name; });

TEST(JobParserTest, AliasedCommandWordsAreBounded) {
  // One 100 KB word repeated through an alias 20 times: 2 MB of argv from 100 KB.
  std::string yaml = "name: j\ncommand: [&w " + std::string(100'000, 'a');
  for (int i = 0; i < 20; ++i) yaml += ", *w";
  yaml += "]\n";
  Result<ParsedJob> job = ParseJobSpec(yaml, "job.yaml");
  ASSERT_FALSE(job.ok());
  EXPECT_EQ(job.status().message(), "job.yaml:2: command: longer than 1048576 bytes in all");
}

TEST(JobParserTest, RigidExampleParses) {
  Result<ParsedJob> job = LoadJobFile(SourceDir() + "/examples/job.yaml");
  ASSERT_TRUE(job.ok()) << job.status().ToString();
  EXPECT_EQ(job->spec.name, "fmnist-mlp");
  EXPECT_EQ(job->spec.consumer, "/research/vision");
  EXPECT_TRUE(job->spec.workers.rigid());
  EXPECT_EQ(job->spec.per_worker, (Resources{1, 1000, 1024}));
  EXPECT_EQ(job->argv.front(), "drover-train");  // runnable on a fresh machine: the built-in trainer
  EXPECT_FALSE(job->argv.empty());
}

TEST(JobParserTest, ElasticExampleParses) {
  Result<ParsedJob> job = LoadJobFile(SourceDir() + "/examples/elastic-job.yaml");
  ASSERT_TRUE(job.ok()) << job.status().ToString();
  EXPECT_EQ(job->spec.workers, (WorkerBounds{1, 4}));
  EXPECT_EQ(job->spec.per_worker, (Resources{1, 500, 1024}));
  EXPECT_EQ(job->argv.front(), "drover-train");
  EXPECT_EQ(job->max_restarts, 3);
}

TEST(JobParserTest, MissingFileIsNotFound) {
  Result<ParsedJob> job = LoadJobFile(SourceDir() + "/examples/no-such-job.yaml");
  ASSERT_FALSE(job.ok());
  EXPECT_EQ(job.status().code(), StatusCode::kNotFound);
}

TEST(JobParserTest, ExampleJobsUseConsumersOfTheExamplePlan) {
  Result<ConsumerTree> plan = LoadPlanFile(SourceDir() + "/examples/plan.yaml");
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  for (const char* file : {"/examples/job.yaml", "/examples/elastic-job.yaml"}) {
    Result<ParsedJob> job = LoadJobFile(SourceDir() + file);
    ASSERT_TRUE(job.ok()) << file << ": " << job.status().ToString();
    EXPECT_GE(plan->Find(job->spec.consumer), 0) << file << ": " << job->spec.consumer;
  }
}

}  // namespace
}  // namespace drover

namespace drover {
namespace {

TEST(JobParserTest, EnvAndMaxRestarts) {
  Result<ParsedJob> job = ParseJobSpec("name: e\nmax_restarts: 2\nenv:\n  LR: \"0.1\"\n  EPOCHS: 3\n", "job.yaml");
  ASSERT_TRUE(job.ok()) << job.status().ToString();
  EXPECT_EQ(job->max_restarts, 2);
  EXPECT_EQ(job->env.at("LR"), "0.1");
  EXPECT_EQ(job->env.at("EPOCHS"), "3");
}

TEST(JobParserTest, BadEnvNameIsLocated) {
  Result<ParsedJob> job = ParseJobSpec("name: e\nenv:\n  1BAD: x\n", "job.yaml");
  ASSERT_FALSE(job.ok());
  EXPECT_EQ(job.status().message(), "job.yaml:3: env.1BAD: \"1BAD\" is not a valid variable name");
}

TEST(JobParserTest, NegativeMaxRestartsIsRefused) {
  Result<ParsedJob> job = ParseJobSpec("name: e\nmax_restarts: -1\n", "job.yaml");
  ASSERT_FALSE(job.ok());
  EXPECT_NE(job.status().message().find("job.yaml:2: max_restarts:"), std::string::npos) << job.status().message();
}

}  // namespace
}  // namespace drover

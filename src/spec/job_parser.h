// Reading a job spec from YAML.
//
//   name: resnet-train            # required; lowercase letters, digits, '-'; at most 63
//   consumer: /research/vision    # consumer path; default "/"
//   user: alice                   # optional
//   priority: 10                  # -1000000..1000000; default 0
//   workers: {min: 1, max: 4}     # elastic; or `workers: 4` for a rigid job of 4
//   resources: {gpus: 1, cpus: 4, memory: 16Gi}   # per worker
//   command: ["python3", "train.py"]              # argv, or one string for /bin/sh -c
//   max_restarts: 3               # rigid: full restarts (default 0); elastic:
//                                 # worker failures in a row survived (default 6)
//
// workers: min defaults to 1 and max to min; both 1..10000. resources: gpus
// 0..1024, default 1; cpus as in ParseCpuMillis ("4", "0.5", "500m"), default 1;
// memory as in ParseMemoryMib ("16Gi", "512Mi", "16G"; a plain number is MiB),
// default 1Gi. command is optional: a job without one is for the simulator.
//
// Every error is kInvalidArgument, "<file>:<line>: <field path>: <what>" (yaml_util.h);
// kNotFound only from LoadJobFile for a missing file. The parser stops at the
// first error. Besides the errors of yaml_util.h, quantity.h and consumer_path.h:
//   job.yaml:1: expected a map, got a list
//   job.yaml:1: missing required field "name"
//   job.yaml:1: name: "ResNet" must be lowercase letters, digits and '-', starting and ending with a letter or digit
//   job.yaml:4: workers.min: 0 must be at least 1
//   job.yaml:4: workers.max: 2 is below workers.min 4
//   job.yaml:4: workers: expected a number or a map like {min: 1, max: 4}, got a list
//   job.yaml:5: resources.gpu: unknown field; did you mean "gpus"?
//   job.yaml:6: command: expected a string or a list of strings, got a map
//   job.yaml:6: command[1]: expected a string, got a map
//   job.yaml:6: command: the list is empty
// Input over 1 MiB is refused; any input returns a value or an error, never a
// crash (fuzz/job_fuzz.cc checks this). Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/job.h"
#include "common/status.h"
#include "spec/yaml_util.h"

namespace drover {

//! The limits of `priority:` (either sign) and `workers:`, for every way a job changes.
constexpr int64_t kMaxPriority = 1'000'000;
constexpr int64_t kMaxWorkers = 10'000;

//! Worker failures in a row an elastic job survives unless `max_restarts:` says otherwise.
constexpr int kDefaultElasticFailures = 6;

//! A job spec with its command as an argument vector, which JobSpec cannot hold.
struct ParsedJob {
  //! spec.command is the command for display: the string as written, or the list
  //! joined with spaces and each word shell-quoted where needed.
  JobSpec spec;
  //! What each worker executes: the list as written, or {"/bin/sh", "-c", string}
  //! for a command given as one string. Empty when the spec has no command.
  std::vector<std::string> argv;
  //! Extra environment for every worker (`env:` map).
  std::map<std::string, std::string> env;
  //! `max_restarts:` as written, unset if absent. A rigid job restarts all its
  //! workers after a failure this often (default 0); an elastic job survives
  //! this many worker failures in a row (default kDefaultElasticFailures).
  std::optional<int> max_restarts;
};

//! Parses a job spec; `file_name` only labels error messages.
Result<ParsedJob> ParseJobSpec(std::string_view yaml_text, std::string_view file_name);

//! Parses the job spec at `at` inside a larger document read by `reader` (an
//! experiment's trial template): errors name `at`'s path ("trial.workers.min").
//! `name:` may be left out when `name_required` is false (spec.name is then empty).
Result<ParsedJob> ParseJobField(const spec::SpecReader& reader, const spec::Field& at, bool name_required);

//! Reads `{gpus, cpus, memory}` at `at` (a job's resources per worker, a
//! deployment's per replica) into `out`, leaving what is not given as it was.
//! Errors: those of SpecReader::ReadMap and ReadInt (gpus 0..1024), and of
//! ParseCpuMillis and ParseMemoryMib, located at the field.
Status ParseResourcesField(const spec::SpecReader& reader, const spec::Field& at, Resources* out);

//! Whether `s` is a valid job name: lowercase letters, digits and '-', starting
//! and ending with a letter or digit.
bool IsDnsLabelName(std::string_view s);

//! Reads and parses the job spec file at `path`, which labels its errors.
Result<ParsedJob> LoadJobFile(const std::string& path);

//! `word` as a POSIX shell reads it back: bare when safe, else in single
//! quotes (a job's command for display).
std::string ShellQuote(std::string_view word);

//! `job` written back as a job spec (for the records of jobs the server makes:
//! trials, replicas); ParseJobSpec reads it back to the same job.
std::string JobSpecYaml(const ParsedJob& job);

}  // namespace drover

// Reading an inference deployment from YAML: a TorchScript model served over
// the Open Inference Protocol (v2) by replicas that scale with load.
//
//   name: fmnist                  # required; becomes the URL /v2/models/fmnist
//   consumer: /research/vision    # optional, as for jobs
//   priority: 10                  # -1000000..1000000; default 0
//   model:
//     path: /models/fmnist.pt     # required: a TorchScript file on the hosts
//     input: {name: input, datatype: FP32, shape: [1, 28, 28]}   # required
//     output: {name: output}      # optional
//   replicas: {min: 0, max: 4}    # required; or `replicas: 2` for a fixed count
//   resources: {gpus: 1, cpus: 1, memory: 2Gi}                  # per replica
//   runtime: {executors: 2, threads: 1}
//   batching: {max_batch_size: 32, max_queue_delay_us: 500, preferred_batch_sizes: [8, 16], max_queue: 256}
//   autoscale: {target_in_flight: 8, window: 10s, upscale_delay: 0s, downscale_delay: 30s, scale_to_zero_after: 5m}
//
// name: lowercase letters, digits and '-', starting with a letter and ending
// with a letter or digit, at most 40 characters. model.path: absolute.
// model.input: name default "input"; datatype FP32 (default), FP16, INT64,
// INT32 or BOOL; shape per sample, without the batch dimension: 1 to 8 sizes,
// each 1..16777216, at most 2^30 elements in all. model.output.name: default
// "output". Tensor names: 1 to 64 letters, digits, '_', '-', '.' or ':'.
// replicas: min 0..64 (default 1), max 1..64 (default min, at least 1), min <= max.
// resources: as a job's (job_parser.h), default {gpus: 1, cpus: 1, memory: 1Gi}.
// runtime: executors (replicas of the model in one process) 1..16, threads
// (intra-op threads per executor) 1..64; both default 1.
// batching: max_batch_size 1..1024, default 1 (no batching); max_queue_delay_us
// 0..1000000, default 0; preferred_batch_sizes strictly ascending, each in
// 1..max_batch_size, default none; max_queue (requests a replica holds before it
// refuses more) max_batch_size..65536, default 1024.
// autoscale: target_in_flight (requests in flight or waiting per replica) a
// number in (0, 1000000], default 8; window 1s..1h, default 10s;
// upscale_delay 0..1h, default 0s; downscale_delay 0..1h, default 30s;
// scale_to_zero_after 1s..24h, only with replicas.min 0, where it defaults to
// 5m (min 0 means "may scale to zero"). Durations as quantity.h's
// ParseDurationSeconds ("30s", "5m", "1h30m"), kept in whole milliseconds.
//
// Every error is kInvalidArgument, "<file>:<line>: <field path>: <what>"
// (yaml_util.h); kNotFound only from LoadDeploymentFile for a missing file.
// The parser stops at the first error. Besides those of yaml_util.h,
// quantity.h, consumer_path.h and ParseResourcesField:
//   dep.yaml:1: missing required field "model"
//   dep.yaml:3: model: missing required field "path"
//   dep.yaml:1: name: "1fmnist" must be lowercase letters, digits and '-', starting with a letter and ending with a letter or digit
//   dep.yaml:2: model.pth: unknown field; did you mean "path"?
//   dep.yaml:3: model.path: "models/a.pt" is not an absolute path
//   dep.yaml:4: model.input.datatype: unknown datatype "FP64"; expected FP32, FP16, INT64, INT32 or BOOL
//   dep.yaml:4: model.input.shape[1]: 0 must be at least 1
//   dep.yaml:4: model.input.shape: expected at least one size (a sample's shape, without the batch dimension)
//   dep.yaml:4: model.input.name: "in put" must be 1 to 64 letters, digits, '_', '-', '.' or ':'
//   dep.yaml:6: replicas.max: 2 is below replicas.min 4
//   dep.yaml:9: batching.preferred_batch_sizes[1]: 64 is above batching.max_batch_size 32
//   dep.yaml:9: batching.preferred_batch_sizes[1]: 8 is not above the size before it, 16
//   dep.yaml:9: batching.max_queue: 16 is below batching.max_batch_size 32
//   dep.yaml:10: autoscale.window: 0s must be at least 1s
//   dep.yaml:10: autoscale.downscale_delay: 2h is above the maximum 1h
//   dep.yaml:10: autoscale.scale_to_zero_after: needs replicas.min 0, not 1
// Input over 1 MiB is refused. Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/resources.h"
#include "common/status.h"

namespace drover {

//! The bounds of `replicas:`, for every way a deployment changes.
constexpr int kMaxDeploymentReplicas = 64;

//! One tensor of a model's signature, as the Open Inference Protocol names it.
struct TensorSpec {
  std::string name;
  std::string datatype = "FP32";  //!< FP32 | FP16 | INT64 | INT32 | BOOL
  std::vector<int64_t> shape;     //!< per sample: no batch dimension
};

//! A deployment as plain fields; the server makes a serve::AutoscalePolicy of
//! the autoscale ones (spec/ does not depend on serve/).
struct DeploymentSpec {
  std::string name;
  std::string consumer;  //!< "" when not given
  int priority = 0;

  std::string model_path;                      //!< absolute
  TensorSpec input{"input", "FP32", {}};
  std::string output_name = "output";

  int min_replicas = 1;
  int max_replicas = 1;
  Resources per_replica{1, 1000, 1024};

  int executors = 1;  //!< model instances in one replica
  int threads = 1;    //!< intra-op threads per executor

  int max_batch_size = 1;  //!< 1: no batching
  int64_t max_queue_delay_us = 0;
  std::vector<int> preferred_batch_sizes;  //!< strictly ascending
  int max_queue = 1024;                    //!< requests a replica queues before refusing

  double target_in_flight = 8;  //!< per replica
  int64_t window_ms = 10'000;
  int64_t upscale_delay_ms = 0;
  int64_t downscale_delay_ms = 30'000;
  int64_t scale_to_zero_after_ms = 0;  //!< 0 when min_replicas > 0; else 5 minutes unless given
};

//! Parses a deployment; `file_name` only labels error messages.
Result<DeploymentSpec> ParseDeploymentSpec(std::string_view yaml_text, std::string_view file_name);

//! Reads and parses the deployment file at `path`, which labels its errors.
Result<DeploymentSpec> LoadDeploymentFile(const std::string& path);

}  // namespace drover

// Reading a hyperparameter-optimisation experiment from YAML.
//
//   name: fmnist-cnn              # required; a job name of at most 40 characters
//   consumer: /research/vision    # the trials' consumer; as for jobs when left out
//   search:
//     algorithm: asha             # random | grid | tpe | asha | hyperband
//     sampler: tpe                # asha, hyperband: what proposes trials (tpe | random; default tpe)
//     early_stopping: median      # random, grid, tpe: optional (median | asha | hyperband)
//     metric: val_acc             # required: the name trials report
//     goal: maximize              # required: maximize | minimize
//     max_trials: 32              # default 10
//     max_parallel: 2             # default 1
//     max_failed_trials: 3        # default 3: then the experiment fails
//     max_time: 2h                # optional: then running trials stop and it ends
//     seed: 1                     # default 0
//     resource: {name: epochs, min: 1, max: 6, reduction_factor: 3}   # needed by early stopping
//   parameters:
//     lr: {type: log, min: 1e-3, max: 0.5}        # double | log | int | categorical | ordinal
//     batch_size: {type: categorical, values: [32, 64, 128, 256]}
//     channels: {type: int, min: 4, max: 16, step: 4}
//   trial:                        # a job spec (name optional); in command and env:
//     command: [python3, train.py, --lr, "${params.lr}", --epochs, "${resource.epochs}"]
//
// Placeholders: ${params.NAME}, ${resource.NAME} (the resource's max: a trial
// runs to the end unless stopped early), ${trial.index}, ${experiment.name}.
//
// Every error is kInvalidArgument "<file>:<line>: <field path>: <what>", e.g.
//   exp.yaml:5: search.algorithm: unknown algorithm "bayes"; expected random, grid, tpe, asha or hyperband
//   exp.yaml:14: parameters.lr: empty range: min is above max
//   exp.yaml:12: parameters.lr: a grid needs discrete parameters, and this log range is continuous ...
//   exp.yaml:20: trial.command: ${params.lrr}: no parameter "lrr" (parameters: lr, momentum)
//   exp.yaml:6: search.resource: asha stops trials at resource levels; give resource: {name, min, max}
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"
#include "hpo/controller.h"
#include "spec/job_parser.h"

namespace drover {

struct ExperimentSpec {
  std::string name;
  std::string consumer;   //!< "" when not given
  std::string algorithm;  //!< as written
  //! What the controller runs: the space, the sampler (random | grid | tpe),
  //! the early stopping ("" | asha | hyperband | median) over the resource in
  //! `stopping` (its name, min, max and reduction factor), the metric and
  //! goal, the limits and the seed.
  hpo::ControllerConfig search;
  bool has_resource = false;  //!< `search.resource` was given
  ParsedJob trial;            //!< the template: placeholders still in command and env
};

//! Parses an experiment; `file_name` labels errors.
Result<ExperimentSpec> ParseExperimentSpec(std::string_view yaml_text, std::string_view file_name);

//! Trial `index`'s job: the template with `config` put in, named
//! "<experiment>-<index>", in the experiment's consumer. `yaml` gets the job as
//! YAML, for the job's record.
ParsedJob TrialJob(const ExperimentSpec& e, const hpo::Config& config, int index, std::string* yaml);

}  // namespace drover

// Importing a WMLA hypersearch body as a drover experiment.
//
// IBM WMLA's REST API (POST /platform/rest/deeplearning/v1/hypersearch) took
//   {"hpoName": "...",
//    "algoDef": {"algorithm": "Random" | "Bayesian" | "Tpe" | "Hyperband" | "ExperimentGridSearch",
//                "maxRunTime": MINUTES, "maxJobNum": N, "maxParalleJobNum": N,
//                "objectiveMetric": "loss", "objective": "minimize" | "maximize",
//                "hyperbandEta": 3, "algoParams": [{"name": "ConfigSpaceSeed", "value": "1"}, ...]},
//    "hyperParams": [{"name": "lr", "type": "Range", "dataType": "DOUBLE", "minDbVal": 0.001,
//                     "maxDbVal": 0.1, "power": 10},
//                    {"name": "n", "type": "Range", "dataType": "INT", "minIntVal": 1, "maxIntVal": 8, "step": 1},
//                    {"name": "opt", "type": "Discrete", "dataType": "STR", "strVals": ["adam", "sgd"]},
//                    {"name": "bs", "type": "Discrete", "dataType": "INT", "intVals": [32, 64]}],
//    "modelSession": {...}}
// WMLA ran the trials through its model session; drover runs them as jobs, so
// the trial comes from a job spec given beside the body (`drover exp submit
// --wmla F.json --trial T.yaml`), in which ${params.NAME} stands for a value.
//
// Mapping: Random -> random, Tpe -> tpe, Bayesian (a Gaussian process in
// WMLA) -> tpe, Hyperband -> hyperband over `epochs` (1..maxEpoch, or
// modelSession.epoch, else 9: said in the notes), ExperimentGridSearch ->
// grid; a DOUBLE Range with `power` -> log; INT Range -> int with its step;
// Discrete INT/DOUBLE -> ordinal, STR -> categorical; maxRunTime (minutes) ->
// max_time. What has no counterpart is listed in the notes, never dropped in
// silence. Pure.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace drover {

struct WmlaImport {
  std::string experiment_yaml;     //!< an experiment spec (docs/hpo.md), to submit
  std::vector<std::string> notes;  //!< what was mapped approximately, or not at all
};

//! Maps the WMLA body `json_text` (`file` labels errors) and the trial job
//! spec `trial_yaml` to an experiment named `name` (default: hpoName) in
//! `consumer` ("" for the caller's default). kInvalidArgument naming the
//! field: not JSON, no algoDef or hyperParams, an unknown algorithm, type or
//! dataType, a Range without its bounds, a Discrete without values; or a
//! trial that is not a YAML map.
Result<WmlaImport> ImportWmla(std::string_view json_text, std::string_view file, std::string_view trial_yaml,
                              const std::string& name, const std::string& consumer);

}  // namespace drover

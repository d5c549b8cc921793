// `drover exp`: hyperparameter-optimisation experiments.
//
// Contract kept stable for other tools (bench/hpo_bench.sh):
//   drover exp sim --table T.csv[.gz] --direction minimize|maximize
//                  --algorithm NAME --trials N --seeds K --json
// prints one JSON object with `median_best` (the median over seeds of the
// best value found), `bests` (one per seed) and `table_best`.
#pragma once

#include <CLI/CLI.hpp>

namespace drover::cli {

//! Adds the `exp` subcommand to `app`; `exit_code` receives its result.
void AddExpCommand(CLI::App& app, int& exit_code);

}  // namespace drover::cli

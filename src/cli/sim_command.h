// `drover sim`: the trace-driven simulator from the command line.
//
// Contract kept stable for other tools:
//   drover sim --workload FILE --policy NAME [--traces DIR] --json
// prints one JSON object whose `mean_jct` is the mean JCT in seconds.
#pragma once

#include <CLI/CLI.hpp>

namespace drover::cli {

//! Adds the `sim` subcommand to `app`; `exit_code` receives its result.
void AddSimCommand(CLI::App& app, int& exit_code);

}  // namespace drover::cli

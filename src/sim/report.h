// The HTML report of one or more simulation runs: a summary table, the JCT
// distribution per policy, and GPUs held per consumer over time. One
// self-contained file with inline SVG: no scripts, nothing fetched, so it
// opens anywhere (and in CI artefacts) as it is.
#pragma once

#include <string>
#include <vector>

#include "sim/sim_result.h"

namespace drover::sim {

std::string RenderHtmlReport(const std::vector<SimResult>& runs, const std::string& title);

//! The summary table people read in a terminal, one row per run.
std::string RenderTextTable(const std::vector<SimResult>& runs);

}  // namespace drover::sim

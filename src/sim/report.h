// The HTML report of one or more simulation runs: a summary table, the JCT
// distribution per policy, and GPUs held per consumer over time. One
// self-contained file with inline SVG: no scripts, nothing fetched, so it
// opens anywhere (and in CI artefacts) as it is.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "sim/sim_result.h"

namespace drover::sim {

std::string RenderHtmlReport(const std::vector<SimResult>& runs, const std::string& title);

//! Pollux's published mean JCT (Qiao et al., OSDI 2021, artifact) for
//! `workload` named workload-N.csv, N = 1..8; nullopt for any other.
std::optional<double> PolluxPublishedMeanJct(const std::string& workload);

//! The summary table people read in a terminal, one row per run; VS_POLLUX is
//! the run's mean JCT over Pollux's published one where there is one.
std::string RenderTextTable(const std::vector<SimResult>& runs);

}  // namespace drover::sim

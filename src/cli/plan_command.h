// `drover plan check -f plan.yaml`: validates a consumer plan and prints its
// tree, without a server. Exit code 0 when valid, 2 with the located error.
#pragma once

#include <CLI/CLI.hpp>

namespace drover::cli {

void AddPlanCommand(CLI::App& app, int& exit_code);

}  // namespace drover::cli

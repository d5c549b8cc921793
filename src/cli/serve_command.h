// drover deploy / deployments / deployment / undeploy (inference deployments
// on the server) and drover router (the inference data path on its own).
#pragma once

#include <CLI/CLI.hpp>

namespace drover::cli {

void AddServeCommands(CLI::App& app, int& exit_code);

}  // namespace drover::cli

// `drover server`: runs the control plane until SIGINT/SIGTERM.
#pragma once

#include <CLI/CLI.hpp>

namespace drover::cli {

void AddServerCommand(CLI::App& app, int& exit_code);

}  // namespace drover::cli

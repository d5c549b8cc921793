// `drover agent --server URL --join-token TOKEN [--name NAME] [--gpus N]
// [--work-dir DIR] [--insecure] [--sync-wait-ms MS]`: runs the host agent
// until SIGINT or SIGTERM, which stop its workers. Exit code 0 after such a
// stop, 1 when the server rejects the registration, 2 for bad options.
#pragma once

#include <CLI/CLI.hpp>

namespace drover::cli {

void AddAgentCommand(CLI::App& app, int& exit_code);

}  // namespace drover::cli

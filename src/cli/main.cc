// drover: one binary for the control plane and its tools.
#include <CLI/CLI.hpp>

#include "cli/agent_command.h"
#include "cli/plan_command.h"
#include "cli/server_command.h"
#include "cli/user_commands.h"
#include "cli/sim_command.h"

int main(int argc, char** argv) {
  CLI::App app{"drover — a shared deep-learning cluster: fair-share GPU scheduling for many teams"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "drover 0.1.0");
  int exit_code = 0;
  drover::cli::AddSimCommand(app, exit_code);
  drover::cli::AddPlanCommand(app, exit_code);
  drover::cli::AddServerCommand(app, exit_code);
  drover::cli::AddAgentCommand(app, exit_code);
  drover::cli::AddUserCommands(app, exit_code);
  CLI11_PARSE(app, argc, argv);
  return exit_code;
}

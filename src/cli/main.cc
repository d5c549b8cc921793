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
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; every other parse error is bad input (2),
    // not CLI11's own codes (105, 106, ...), so the documented 0-5 hold.
    int printed = app.exit(e);
    return printed == 0 ? 0 : 2;
  }
  return exit_code;
}

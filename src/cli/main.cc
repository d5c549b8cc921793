// drover: one binary for the control plane and its tools.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "cli/agent_command.h"
#include "cli/exp_command.h"
#include "cli/serve_command.h"
#include "cli/plan_command.h"
#include "cli/server_command.h"
#include "cli/user_commands.h"
#include "cli/sim_command.h"

namespace {

// Options whose values are secrets: shown as x's in `ps` and /proc/<pid>/cmdline.
constexpr const char* kSecretOptions[] = {"--join-token"};

// Overwrites, in the process's own argv memory, the value of every secret
// option ("--join-token V" or "--join-token=V"). Call after copying argv.
void HideSecrets(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    for (const char* opt : kSecretOptions) {
      size_t n = std::strlen(opt);
      char* value = nullptr;
      if (std::strcmp(argv[i], opt) == 0 && i + 1 < argc) {
        value = argv[i + 1];
      } else if (std::strncmp(argv[i], opt, n) == 0 && argv[i][n] == '=') {
        value = argv[i] + n + 1;
      }
      if (value) std::memset(value, 'x', std::strlen(value));
    }
  }
}

}  // namespace

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
  drover::cli::AddExpCommand(app, exit_code);
  drover::cli::AddServeCommands(app, exit_code);
  // CLI11 parses a copy (in reverse order, as its vector form wants), so the
  // secrets can be hidden from other users' `ps` before any command runs.
  std::vector<std::string> args(argv + 1, argv + argc);
  std::reverse(args.begin(), args.end());
  HideSecrets(argc, argv);
  try {
    app.parse(args);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; every other parse error is bad input (2),
    // not CLI11's own codes (105, 106, ...), so the documented 0-5 hold.
    int printed = app.exit(e);
    return printed == 0 ? 0 : 2;
  }
  return exit_code;
}

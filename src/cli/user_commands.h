// The commands people use against a running server: login, submit, jobs, job,
// logs, cancel, hosts, consumers, plan apply, user create. Tables for people,
// `-o json` for scripts; exit codes in client.h.
#pragma once

#include <CLI/CLI.hpp>

namespace drover::cli {

void AddUserCommands(CLI::App& app, int& exit_code);

}  // namespace drover::cli

// What the client commands share: reading files, printing times and
// answers (table, JSON or YAML), and each command's common options.
#pragma once

#include <iostream>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/client.h"

namespace drover::cli {

using json = nlohmann::json;

//! The contents of `path`; "" and `*error` set when it cannot be read.
std::string ReadFile(const std::string& path, std::string* error);
//! A span of seconds as "42s", "5m", "3h", "2d".
std::string Duration(double s);
//! The time since `since` (epoch seconds) as Duration; "-" for 0.
std::string Age(double since);
//! Epoch seconds as local "HH:MM:SS".
std::string Clock(double t);
//! `-o yaml`: the JSON answer as a YAML document.
std::string ToYaml(const json& j);

// One subcommand's shared options and plumbing.
struct Common {
  std::string output = "table";
  bool insecure = false;
  Client client() const {
    ClientConfig c = LoadClientConfig();
    c.insecure = c.insecure || insecure;
    return Client(c);
  }
  //! JSON or YAML asked for: print the answer as it is (Print), not a table.
  bool as_json() const { return output == "json" || output == "yaml"; }
  bool wide() const { return output == "wide"; }
  void Print(const json& j) const { std::cout << (output == "yaml" ? ToYaml(j) : j.dump()) << "\n"; }
};

//! `?file=` for the server to label its errors with the file the user gave (percent-encoded).
std::string FileParam(const std::string& path);
//! Adds -o/--output and --insecure to `cmd`.
void AddOutput(CLI::App* cmd, Common& c);

}  // namespace drover::cli

#include "cli/command_util.h"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "common/percent_encode.h"

namespace drover::cli {
namespace {

YAML::Node YamlNode(const json& j) {
  YAML::Node n;
  if (j.is_object()) {
    n = YAML::Node(YAML::NodeType::Map);
    for (const auto& [k, v] : j.items()) n[k] = YamlNode(v);
  } else if (j.is_array()) {
    n = YAML::Node(YAML::NodeType::Sequence);
    for (const auto& v : j) n.push_back(YamlNode(v));
  } else if (j.is_string()) {
    n = j.get<std::string>();
  } else if (j.is_boolean()) {
    n = j.get<bool>();
  } else if (j.is_number_integer()) {
    n = j.get<int64_t>();
  } else if (j.is_number()) {
    n = j.get<double>();
  } else {
    n = YAML::Node(YAML::NodeType::Null);
  }
  return n;
}

}  // namespace

std::string ReadFile(const std::string& path, std::string* error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *error = "cannot read " + path;
    return "";
  }
  std::ostringstream o;
  o << in.rdbuf();
  return o.str();
}

// A span of seconds as "42s", "5m", "3h", "2d".
std::string Duration(double s) {
  s = std::max(0.0, s);
  char buf[32];
  if (s < 120) std::snprintf(buf, sizeof buf, "%.0fs", s);
  else if (s < 7200) std::snprintf(buf, sizeof buf, "%.0fm", s / 60);
  else if (s < 172800) std::snprintf(buf, sizeof buf, "%.0fh", s / 3600);
  else std::snprintf(buf, sizeof buf, "%.0fd", s / 86400);
  return buf;
}

std::string Age(double since) {
  if (since <= 0) return "-";
  double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  return Duration(now - since);
}

std::string Clock(double t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  localtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%H:%M:%S", &tm);
  return buf;
}

// `-o yaml`: the JSON answer as a YAML document.
std::string ToYaml(const json& j) {
  YAML::Emitter out;
  out << YamlNode(j);
  return out.c_str();
}

// `?file=` for the server to label its errors with the file the user gave (percent-encoded).
std::string FileParam(const std::string& path) { return "file=" + PercentEncode(path.substr(0, 512)); }

void AddOutput(CLI::App* cmd, Common& c) {
  cmd->add_option("-o,--output", c.output, "table, wide (more columns), json or yaml")
      ->check(CLI::IsMember({"table", "wide", "json", "yaml"}));
  cmd->add_flag("--insecure", c.insecure, "do not verify the server's TLS certificate");
}

}  // namespace drover::cli

#include "cli/agent_command.h"

#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <functional>
#include <optional>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>

#include "agent/agent.h"
#include "agent/cgroups.h"
#include "agent/gpu_discovery.h"
#include "agent/http_server_client.h"
#include "agent/process_launcher.h"

namespace drover::cli {
namespace {

struct AgentFlags {
  std::string server;
  std::string join_token;
  std::string join_token_file;
  std::string name;
  int gpus = 0;
  CLI::Option* gpus_option = nullptr;
  std::string work_dir;
  bool insecure = false;
  std::string ca_cert;
  int sync_wait_ms = 1000;
  std::string cgroups = "auto";
};

// Set by SIGINT/SIGTERM; the agent's loop checks it.
std::atomic<bool> g_stop{false};
static_assert(std::atomic<bool>::is_always_lock_free);

extern "C" void OnStopSignal(int) { g_stop.store(true); }

std::string Hostname() {
  char buf[256] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0 || buf[0] == '\0') return "localhost";
  return buf;
}

int Fail(const std::string& message, int code) {
  std::cerr << "drover agent: " << message << "\n";
  return code;
}

int RunAgent(AgentFlags flags) {
  // The join token stays with the agent: out of its environment (workers get
  // an allowlist anyway) and, on the command line, overwritten in main().
  unsetenv("DROVER_JOIN_TOKEN");
  if (!flags.join_token_file.empty()) {
    std::ifstream in(flags.join_token_file);
    if (!in) return Fail("--join-token-file " + flags.join_token_file + ": cannot be read", 2);
    std::getline(in, flags.join_token);
  }
  if (flags.join_token.empty()) {
    return Fail("a join token is needed: --join-token-file FILE (or DROVER_JOIN_TOKEN, or --join-token)", 2);
  }
  agent::HttpClientOptions http;
  http.tls.insecure = flags.insecure;
  if (!flags.ca_cert.empty()) {
    std::error_code ec;
    http.tls.ca_cert = std::filesystem::absolute(flags.ca_cert, ec).string();
    if (!std::filesystem::exists(http.tls.ca_cert)) return Fail("--ca-cert " + flags.ca_cert + ": no such file", 2);
    // Workers inherit the agent's environment: the runtime trusts the same CA.
    setenv("DROVER_CA_CERT", http.tls.ca_cert.c_str(), 1);
  }
  auto client = agent::HttpServerClient::Create(flags.server, http);
  if (!client.ok()) return Fail("--server: " + client.status().message(), 2);

  std::optional<int> requested;
  if (flags.gpus_option->count() > 0) requested = flags.gpus;
  auto inventory = agent::DiscoverHost(requested);
  if (!inventory.ok()) return Fail(inventory.status().message(), 2);

  std::string name = flags.name.empty() ? Hostname() : flags.name;
  std::filesystem::path work_dir = flags.work_dir.empty() ? "drover-agent-" + name : flags.work_dir;
  std::error_code ec;
  work_dir = std::filesystem::absolute(work_dir, ec);
  std::filesystem::create_directories(work_dir, ec);
  if (ec) return Fail("--work-dir " + work_dir.string() + ": " + ec.message(), 2);
  // Two agents in one work dir would start workers into each other's directories.
  std::string lock_path = (work_dir / "agent.lock").string();
  int lock_fd = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd < 0) return Fail(lock_path + ": " + std::strerror(errno), 2);
  if (flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    return Fail("--work-dir " + work_dir.string() + " is in use by another agent", 2);
  }

  // Each worker in its own control group, limited to its job's request.
  std::optional<agent::Cgroups> cgroups;
  if (flags.cgroups == "auto") {
    // Named after the host and the work dir: two agents on one machine (tests) never share groups.
    char tag[17];
    std::snprintf(tag, sizeof tag, "%08zx", std::hash<std::string>{}(work_dir.string()) & 0xffffffffu);
    auto detected = agent::Cgroups::Detect(name + "-" + tag);
    if (detected.ok()) {
      cgroups.emplace(std::move(detected).value());
      spdlog::info("workers run in cgroups limited to their requests: {}", cgroups->Describe());
    } else {
      spdlog::warn("workers run WITHOUT resource limits: {}", detected.status().message());
    }
  }

  agent::AgentOptions options;
  options.name = name;
  options.cgroups = cgroups ? &*cgroups : nullptr;
  options.join_token = flags.join_token;
  options.work_dir = work_dir;
  options.inventory = std::move(*inventory);
  options.server = flags.server;
  options.sync_wait_ms = flags.sync_wait_ms;

  struct sigaction sa {};
  sa.sa_handler = OnStopSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  // A server that drops the connection must not kill the agent; workers get default dispositions
  // back.
  signal(SIGPIPE, SIG_IGN);

  agent::ProcessLauncher launcher;
  agent::Agent agent(std::move(options), **client, launcher);
  Status st = agent.Run(g_stop);
  if (cgroups) cgroups->RemoveAgentGroups();
  close(lock_fd);
  return st.ok() ? 0 : 1;  // the agent has logged why
}

}  // namespace

void AddAgentCommand(CLI::App& app, int& exit_code) {
  auto flags = std::make_shared<AgentFlags>();
  CLI::App* cmd = app.add_subcommand(
      "agent",
      "Run the host agent: register this host with the server and run the workers it assigns");
  cmd->add_option("--server", flags->server, "server URL: http://host:port or https://host:port")
      ->required();
  auto* token_file = cmd->add_option("--join-token-file", flags->join_token_file,
                                     "file whose first line is the token that admits hosts to the cluster "
                                     "(the server's join.token)");
  cmd->add_option("--join-token", flags->join_token,
                  "the join token itself (hidden from ps; prefer --join-token-file)")
      ->envname("DROVER_JOIN_TOKEN")
      ->excludes(token_file);
  cmd->add_option("--name", flags->name, "host name to register under (default: this host's name)");
  flags->gpus_option = cmd->add_option("--gpus", flags->gpus,
                                       "GPU slots to offer (default: the GPUs NVML finds; may not "
                                       "exceed them when there are any)")
                           ->check(CLI::Range(0, 4096));
  cmd->add_option("--work-dir", flags->work_dir,
                  "directory for workers' files (default: ./drover-agent-<name>)");
  cmd->add_flag("--insecure", flags->insecure, "do not verify the server's TLS certificate");
  cmd->add_option("--ca-cert", flags->ca_cert, "PEM file of the CA that signed the server's certificate "
                                               "(default: the system's CA store); its workers trust it too");
  cmd->add_option("--sync-wait-ms", flags->sync_wait_ms,
                  "how long the server may hold a sync (long poll)")
      ->check(CLI::Range(0, 60000))
      ->capture_default_str();
  cmd->add_option("--cgroups", flags->cgroups,
                  "auto: each worker in a cgroup limited to its request (memory, CPU, processes) where the "
                  "host allows it (root, cgroup v1); off: no limits")
      ->check(CLI::IsMember({"auto", "off"}))
      ->capture_default_str();
  cmd->callback([flags, &exit_code]() { exit_code = RunAgent(*flags); });
}

}  // namespace drover::cli

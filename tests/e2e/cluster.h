// A real local cluster for end-to-end tests and benchmarks: one `drover
// server` and N `drover agent` processes on 127.0.0.1, each started with
// fork/exec and stopped by PID. Every wait is bounded.
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace drover::e2e {

struct HttpReply {
  int status = 0;
  nlohmann::json json;
  std::string body;
};

class LocalCluster {
 public:
  //! `binary`: the drover executable. Nothing starts until Start().
  LocalCluster(std::string binary, std::string dir);
  ~LocalCluster();

  //! Serve HTTPS with this certificate and key. Agents and Call() verify it
  //! against `ca` (the agents with --ca-cert); without one they skip the check.
  void EnableTls(std::string cert, std::string key, std::string ca = "") {
    tls_cert_ = std::move(cert);
    tls_key_ = std::move(key);
    tls_ca_ = std::move(ca);
  }
  //! More `drover server` flags, for every later server start.
  void AddServerArgs(const std::vector<std::string>& args) {
    server_args_.insert(server_args_.end(), args.begin(), args.end());
  }
  //! Starts the server (on a free port) and `agents` agents with `gpus` slots each.
  bool Start(int agents, int gpus, double heartbeat_timeout = 3);
  bool StartServer();
  bool StartAgent(const std::string& name, int gpus);
  void KillServer(int sig);
  void KillAgent(const std::string& name, int sig);
  pid_t server_pid() const { return server_; }
  int port() const { return port_; }
  //! The pid of agent `name` (0 if none is running).
  pid_t agent_pid(const std::string& name) const {
    for (const auto& [n, pid] : agents_) {
      if (n == name && pid > 0) return pid;
    }
    return 0;
  }

  //! GET, POST, PUT, DELETE or (otherwise) PATCH; "none" as `token` sends none, "" the admin's.
  HttpReply Call(const std::string& method, const std::string& path, const std::string& body = "",
                 const std::string& token = "") const;
  //! Polls `ok` every 50 ms for up to `seconds`; true once it holds.
  static bool WaitFor(const std::function<bool()>& ok, double seconds);

  const std::string& admin_token() const { return admin_token_; }
  const std::string& join_token() const { return join_token_; }
  std::string url() const {
    return std::string(tls_cert_.empty() ? "http" : "https") + "://127.0.0.1:" + std::to_string(port_);
  }
  const std::string& dir() const { return dir_; }

  //! Submits `yaml` as admin (or `token`); returns the job id or 0.
  uint64_t Submit(const std::string& yaml, const std::string& token = "");
  //! What `drover ARGS` prints (stdout) against this cluster, as admin.
  std::string Cli(const std::string& args) const;
  std::string JobState(uint64_t id);
  bool WaitState(uint64_t id, const std::string& state, double seconds);

 private:
  pid_t Spawn(const std::vector<std::string>& args, const std::string& log);
  std::string binary_, dir_;
  int port_ = 0;
  double heartbeat_timeout_ = 3;
  pid_t server_ = 0;
  std::vector<std::pair<std::string, pid_t>> agents_;
  std::string admin_token_, join_token_;
  std::string tls_cert_, tls_key_, tls_ca_;
  std::vector<std::string> server_args_;
};

//! True when a process with this PID exists (and is not a zombie of ours).
bool Alive(pid_t pid);
//! A TCP connection to 127.0.0.1:`port`, for tests that speak raw bytes; -1 if refused.
int ConnectLoopback(int port);

}  // namespace drover::e2e

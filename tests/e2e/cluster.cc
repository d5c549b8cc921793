#include "tests/e2e/cluster.h"

#include <fcntl.h>
#include <sys/prctl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include <httplib.h>

namespace drover::e2e {
namespace {

namespace fs = std::filesystem;

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  int port = ntohs(a.sin_port);
  close(fd);
  return port;
}

std::string FirstLine(const fs::path& p) {
  std::ifstream in(p);
  std::string s;
  std::getline(in, s);
  return s;
}

void Stop(pid_t pid) {
  if (pid <= 0) return;
  kill(pid, SIGTERM);
  for (int i = 0; i < 100; ++i) {
    if (waitpid(pid, nullptr, WNOHANG) == pid) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
}

}  // namespace

int ConnectLoopback(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

bool Alive(pid_t pid) {
  if (pid <= 0) return false;
  if (kill(pid, 0) != 0) return false;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  size_t close_paren = line.rfind(')');
  return close_paren == std::string::npos || line.size() < close_paren + 3 || line[close_paren + 2] != 'Z';
}

LocalCluster::LocalCluster(std::string binary, std::string dir) : binary_(std::move(binary)), dir_(std::move(dir)) {
  fs::remove_all(dir_);
  fs::create_directories(dir_);
}

LocalCluster::~LocalCluster() {
  for (auto& [name, pid] : agents_) Stop(pid);
  Stop(server_);
}

pid_t LocalCluster::Spawn(const std::vector<std::string>& args, const std::string& log) {
  pid_t pid = fork();
  if (pid == 0) {
    // A test killed mid-run (ctest's timeout) must not leave a cluster behind:
    // the server and agents die with it, and the agents' keepers take the workers.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    std::vector<char*> argv;
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

bool LocalCluster::StartServer() {
  if (port_ == 0) port_ = FreePort();
  std::vector<std::string> args = {binary_, "server", "--data-dir", dir_ + "/server", "--listen",
                                   "127.0.0.1:" + std::to_string(port_), "--heartbeat-timeout",
                                   std::to_string(heartbeat_timeout_)};
  if (!tls_cert_.empty()) args.insert(args.end(), {"--tls-cert", tls_cert_, "--tls-key", tls_key_});
  args.insert(args.end(), server_args_.begin(), server_args_.end());
  // The inference router would default to the API's port + 1, which the next
  // free-port pick of a test running beside this one is likely to be.
  if (std::find(server_args_.begin(), server_args_.end(), "--inference-port") == server_args_.end()) {
    args.insert(args.end(), {"--inference-port", "0"});
  }
  server_ = Spawn(args, dir_ + "/server.log");
  bool up = WaitFor([&] { return Call("GET", "/healthz").status == 200; }, 15);
  if (!up) return false;
  admin_token_ = FirstLine(dir_ + "/server/admin.token");
  join_token_ = FirstLine(dir_ + "/server/join.token");
  return !admin_token_.empty() && !join_token_.empty();
}

bool LocalCluster::StartAgent(const std::string& name, int gpus) {
  std::vector<std::string> args = {binary_, "agent", "--server", url(), "--join-token", join_token_, "--name", name,
                                   "--gpus", std::to_string(gpus), "--work-dir", dir_ + "/" + name};
  if (!tls_ca_.empty()) {
    args.insert(args.end(), {"--ca-cert", tls_ca_});
  } else if (!tls_cert_.empty()) {
    args.push_back("--insecure");
  }
  pid_t pid = Spawn(args, dir_ + "/" + name + ".log");
  agents_.push_back({name, pid});
  return WaitFor([&] {
    HttpReply r = Call("GET", "/api/v1/hosts");
    if (r.status != 200) return false;
    for (const auto& h : r.json["hosts"]) {
      if (h["name"] == name && h["state"] == "up") return true;
    }
    return false;
  }, 15);
}

bool LocalCluster::Start(int agents, int gpus, double heartbeat_timeout) {
  heartbeat_timeout_ = heartbeat_timeout;
  if (!StartServer()) return false;
  for (int i = 0; i < agents; ++i) {
    if (!StartAgent("host-" + std::to_string(i), gpus)) return false;
  }
  return true;
}

void LocalCluster::KillServer(int sig) {
  kill(server_, sig);
  waitpid(server_, nullptr, 0);
  server_ = 0;
}

void LocalCluster::KillAgent(const std::string& name, int sig) {
  for (auto& [n, pid] : agents_) {
    if (n == name && pid > 0) {
      kill(pid, sig);
      waitpid(pid, nullptr, 0);
      pid = 0;
    }
  }
}

HttpReply LocalCluster::Call(const std::string& method, const std::string& path, const std::string& body,
                             const std::string& token) const {
  httplib::Client c(url());
  c.enable_server_certificate_verification(!tls_ca_.empty());
  if (!tls_ca_.empty()) c.set_ca_cert_path(tls_ca_.c_str());
  c.set_connection_timeout(2, 0);
  c.set_tcp_nodelay(true);
  c.set_read_timeout(10, 0);
  std::string t = token.empty() ? admin_token_ : token;
  if (t != "none" && !t.empty()) c.set_bearer_token_auth(t);
  httplib::Result res = method == "GET"    ? c.Get(path)
                        : method == "POST" ? c.Post(path, body, "application/yaml")
                        : method == "PUT"  ? c.Put(path, body, "application/yaml")
                        : method == "DELETE" ? c.Delete(path)
                                           : c.Patch(path, body, "application/json");
  HttpReply r;
  if (!res) return r;
  r.status = res->status;
  r.body = res->body;
  r.json = nlohmann::json::parse(res->body, nullptr, false);
  return r;
}

bool LocalCluster::WaitFor(const std::function<bool()>& ok, double seconds) {
  auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < end) {
    if (ok()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return ok();
}

uint64_t LocalCluster::Submit(const std::string& yaml, const std::string& token) {
  HttpReply r = Call("POST", "/api/v1/jobs", yaml, token);
  if (r.status != 201) return 0;
  return r.json["id"].get<uint64_t>();
}

std::string LocalCluster::Cli(const std::string& args) const {
  const std::string cmd = "DROVER_SERVER=" + url() + " DROVER_TOKEN=" + admin_token_ + " " + binary_ + " " + args;
  std::string out;
  if (FILE* p = popen(cmd.c_str(), "r")) {
    char buf[4096];
    for (size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
    pclose(p);
  }
  return out;
}

std::string LocalCluster::JobState(uint64_t id) {
  HttpReply r = Call("GET", "/api/v1/jobs/" + std::to_string(id));
  return r.status == 200 ? r.json["state"].get<std::string>() : "";
}

bool LocalCluster::WaitState(uint64_t id, const std::string& state, double seconds) {
  return WaitFor([&] { return JobState(id) == state; }, seconds);
}

}  // namespace drover::e2e

#include "agent/agent.h"

#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <thread>

#ifndef DROVER_VERSION
#define DROVER_VERSION "0.0.0"
#endif

namespace drover::agent {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

// The agent token is kept in the work dir (mode 0600), so that a restarted
// agent can prove it is the host's agent while the host is still up.
constexpr const char* kTokenFile = "agent.token";

std::string ReadToken(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::string token;
  if (in) std::getline(in, token);
  return token;
}

void WriteToken(const std::filesystem::path& path, const std::string& token) {
  std::filesystem::path tmp = path.string() + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return spdlog::warn("cannot keep the agent token in {}: {}", tmp.string(), std::strerror(errno));
  std::string line = token + "\n";
  bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) && ::fsync(fd) == 0;
  ::close(fd);
  std::error_code ec;
  if (ok) std::filesystem::rename(tmp, path, ec);
}

}  // namespace

Agent::Agent(AgentOptions options, ServerClient& client, Launcher& launcher)
    : options_(std::move(options)),
      client_(client),
      reconciler_(launcher, options_.work_dir, options_.max_log_bytes_per_sync, options_.cgroups),
      backoff_(options_.backoff_initial, options_.backoff_max, options_.backoff_jitter),
      host_(options_.name) {}

Result<milliseconds> Agent::Register() {
  const HostInventory& inv = options_.inventory;
  RegisterRequest req{options_.name, inv.gpus,       inv.gpu_slots,
                      inv.cpus,      inv.memory_mib, DROVER_VERSION, agent_token_};
  if (req.previous_token.empty() && !options_.work_dir.empty()) {
    req.previous_token = ReadToken(options_.work_dir / kTokenFile);
  }
  auto res = client_.Register(options_.join_token, req);
  if (!res.ok()) {
    StatusCode code = res.status().code();
    if (code == StatusCode::kInvalidArgument || code == StatusCode::kUnauthenticated ||
        code == StatusCode::kPermissionDenied) {
      spdlog::error("server {} refused registration: {}", options_.server, res.status().message());
      return res.status();
    }
    milliseconds delay = backoff_.Next();
    spdlog::warn(
        "cannot register with server {}: {}; retrying in {:.1f}s ({} worker(s) keep running)",
        options_.server, res.status().message(), delay.count() / 1000.0,
        reconciler_.running_count());
    return delay;
  }
  agent_token_ = res->agent_token;
  if (!options_.work_dir.empty()) WriteToken(options_.work_dir / kTokenFile, agent_token_);
  host_ = res->host.empty() ? options_.name : res->host;
  backoff_.Reset();
  // Retry often enough that a server restart does not outlast the heartbeat
  // timeout, or the server would give up on workers that are still running.
  backoff_.set_max(
      std::min(options_.backoff_max, milliseconds(res->heartbeat_timeout_s * 1000 / 3)));
  spdlog::info(
      "registered with {} as host '{}': {} GPU slot(s), {} GPU(s) found, {} CPUs, {} MiB; "
      "heartbeat timeout {}s",
      options_.server, host_, inv.gpu_slots, inv.gpus.size(), inv.cpus, inv.memory_mib,
      res->heartbeat_timeout_s);
  return milliseconds(0);
}

Result<milliseconds> Agent::Step() {
  if (!registered()) {
    reconciler_.Poll();
    auto delay = Register();
    if (!delay.ok() || !registered()) return delay;
  }
  SyncRequest req = reconciler_.BuildReport(host_, options_.sync_wait_ms);
  auto res = client_.Sync(agent_token_, req);
  if (!res.ok()) {
    const Status& st = res.status();
    if (st.code() == StatusCode::kUnauthenticated || st.code() == StatusCode::kNotFound) {
      spdlog::warn("server no longer knows this agent ({}); registering again", st.message());
      agent_token_.clear();
      // A server that accepts registrations but rejects every sync must not be hammered.
      return rejected_syncs_++ == 0 ? milliseconds(0) : backoff_.Next();
    }
    milliseconds delay = backoff_.Next();
    auto log_level =
        st.code() == StatusCode::kUnavailable ? spdlog::level::warn : spdlog::level::err;
    spdlog::log(log_level,
                "sync with server {} failed: {}; retrying in {:.1f}s ({} worker(s) keep running)",
                options_.server, st.message(), delay.count() / 1000.0, reconciler_.running_count());
    return delay;
  }
  if (backoff_.failures() > 0) spdlog::info("server {} reachable again", options_.server);
  backoff_.Reset();
  rejected_syncs_ = 0;
  reconciler_.Acknowledge();
  reconciler_.Apply(*res);
  return milliseconds(0);
}

Status Agent::Run(const std::atomic<bool>& stop) {
  spdlog::info("agent '{}' starting; server {}, work dir {}", options_.name, options_.server,
               options_.work_dir.string());
  Status result;
  while (!stop.load()) {
    auto started = Clock::now();
    auto delay = Step();
    if (!delay.ok()) {
      result = delay.status();
      break;
    }
    auto until = std::max(Clock::now() + *delay, started + options_.min_sync_interval);
    // Short slices: reap exits and escalate stops while waiting, and notice `stop`.
    while (!stop.load() && Clock::now() < until) {
      reconciler_.Poll();
      auto slice = std::min<Clock::duration>(until - Clock::now(), milliseconds(50));
      if (slice > Clock::duration::zero()) std::this_thread::sleep_for(slice);
    }
  }
  Shutdown();
  return result;
}

void Agent::Shutdown() {
  if (reconciler_.running_count() > 0) spdlog::info("shutting down: stopping all workers");
  reconciler_.StopAll();
  if (!registered()) return;
  // One try, no waiting: the server learns now, rather than at the heartbeat
  // timeout, that this host is gone; its work moves elsewhere.
  SyncRequest last = reconciler_.BuildReport(host_, 0);
  last.leaving = true;
  auto res = client_.Sync(agent_token_, last);
  if (res.ok()) {
    reconciler_.Acknowledge();
  } else {
    spdlog::warn("could not report the final worker exits to {}: {}", options_.server,
                 res.status().message());
  }
  spdlog::info("agent '{}' stopped", options_.name);
}

}  // namespace drover::agent

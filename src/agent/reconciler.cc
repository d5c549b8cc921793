#include "agent/reconciler.h"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <cstring>
#include <cerrno>
#include <csignal>

namespace drover::agent {
namespace {

std::string DescribeExit(const WorkerExit& e) {
  if (e.signal != 0) return "was killed by signal " + std::to_string(e.signal);
  return "exited with code " + std::to_string(e.exit_code);
}

// The user `name` as the launcher needs it (uid, gid, groups), with its
// HOME/USER/LOGNAME; makes `dir` (the worker's) its own. Fails, naming the
// user, when this agent cannot run workers as it.
Result<std::pair<LaunchSpec::User, std::map<std::string, std::string>>> ResolveUser(const std::string& name,
                                                                                    const std::filesystem::path& dir) {
  if (geteuid() != 0) return PermissionDenied("the agent is not root, so it cannot run workers as " + name);
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* found = nullptr;
  if (getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found) != 0 || found == nullptr) {
    return NotFound("no user " + name + " on this host (its consumer's run_as)");
  }
  LaunchSpec::User user{pw.pw_uid, pw.pw_gid, {}};
  int n = 64;
  std::vector<gid_t> groups(static_cast<size_t>(n));
  if (getgrouplist(name.c_str(), pw.pw_gid, groups.data(), &n) < 0) {
    groups.resize(static_cast<size_t>(n));
    getgrouplist(name.c_str(), pw.pw_gid, groups.data(), &n);
  }
  groups.resize(static_cast<size_t>(std::max(n, 0)));
  user.groups.assign(groups.begin(), groups.end());
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (::chown(dir.c_str(), pw.pw_uid, pw.pw_gid) != 0) {
    return Unavailable("cannot give " + dir.string() + " to " + name + ": " + std::strerror(errno));
  }
  std::map<std::string, std::string> env = {{"HOME", pw.pw_dir}, {"USER", name}, {"LOGNAME", name}};
  return std::make_pair(user, env);
}

// A worker's control group: one per incarnation.
std::string GroupName(const WorkerKey& key) {
  return "job" + std::to_string(key.job) + "-rank" + std::to_string(key.rank) + "-gen" + std::to_string(key.generation);
}

uint64_t FileSize(const std::filesystem::path& file) {
  std::error_code ec;
  auto size = std::filesystem::file_size(file, ec);
  return ec ? 0 : size;
}

}  // namespace

Reconciler::Reconciler(Launcher& launcher, std::filesystem::path work_dir, size_t max_log_bytes, Cgroups* cgroups)
    : cgroups_(cgroups), launcher_(launcher), work_dir_(std::move(work_dir)), shipper_(max_log_bytes) {}

std::filesystem::path Reconciler::WorkerDir(const WorkerKey& key) const {
  return work_dir_ / "jobs" / std::to_string(key.job) / std::to_string(key.rank);
}

void Reconciler::OnExit(const WorkerExit& exit) {
  auto pid_it = by_pid_.find(exit.pid);
  if (pid_it == by_pid_.end()) return;  // not ours: the launcher only knows our workers
  WorkerKey key = pid_it->second;
  by_pid_.erase(pid_it);
  Worker& w = workers_.at(key);
  w.exit = exit;
  if (cgroups_) {
    w.oom_killed = exit.signal == SIGKILL && cgroups_->OomKilled(GroupName(key));
    cgroups_->Remove(GroupName(key));
  }
  finished_.insert(key);
  shipper_.MarkFinished(key);
  spdlog::info("{} (pid {}) {}{}", ToString(key), exit.pid, DescribeExit(exit),
               w.oom_killed ? ": out of memory (its cgroup's limit)" : "");
}

void Reconciler::Poll() {
  for (const WorkerExit& e : launcher_.Poll()) OnExit(e);
}

SyncRequest Reconciler::BuildReport(const std::string& host, int wait_ms) {
  Poll();
  SyncRequest req;
  req.host = host;
  req.wait_ms = wait_ms;
  req.logs = shipper_.Collect();
  bool backlog = false;
  for (auto& [key, w] : workers_) {
    WorkerReport r{key, w.pid};
    w.exit_in_report = false;
    if (w.exit && shipper_.CollectedAll(key)) {
      r.state = WorkerState::kExited;
      r.exit_code = w.exit->exit_code;
      r.signal = w.exit->signal;
      r.oom_killed = w.oom_killed;
      w.exit_in_report = true;
    } else if (w.exit) {
      backlog = true;  // still "running" until the rest of its output goes
    } else if (w.stopping) {
      r.state = WorkerState::kStopping;
    }
    req.workers.push_back(r);
  }
  // Output left for later: ask for an immediate answer, so it drains at once.
  if (backlog || shipper_.backlog()) req.wait_ms = 0;
  return req;
}

void Reconciler::Acknowledge() {
  shipper_.Acknowledge();
  for (auto it = workers_.begin(); it != workers_.end();) {
    if (it->second.exit_in_report) {
      shipper_.Forget(it->first);
      it = workers_.erase(it);
    } else {
      ++it;
    }
  }
}

const WorkerKey* Reconciler::Blocker(const DesiredWorker& want) const {
  for (const auto& [key, w] : workers_) {
    if (w.exit || !w.stopping) continue;
    bool same_slot = key.job == want.key.job && key.rank == want.key.rank;
    bool shares_gpu = std::any_of(want.gpus.begin(), want.gpus.end(), [&](int g) {
      return std::find(w.gpus.begin(), w.gpus.end(), g) != w.gpus.end();
    });
    if (same_slot || shares_gpu) return &key;
  }
  return nullptr;
}

void Reconciler::Start(const DesiredWorker& want) {
  std::filesystem::path dir = WorkerDir(want.key);
  std::filesystem::path log = dir / kOutputLogName;
  uint64_t start = FileSize(log);
  LaunchSpec spec{want.argv, want.env, dir, {}};
  Worker w;
  w.gpus = want.gpus;
  Result<int> pid = Unavailable("not started");
  Status grouped = Status::Ok();
  if (cgroups_) {
    // Limits fail closed: a worker that cannot be held to them does not start.
    auto procs = cgroups_->Create(GroupName(want.key), {want.memory_mib, want.cpu_millis, 4096, want.gpus});
    if (procs.ok()) {
      spec.cgroup_procs = std::move(procs).value();
    } else {
      grouped = procs.status();
    }
  }
  if (grouped.ok() && !want.run_as.empty()) {
    auto user = ResolveUser(want.run_as, dir);
    if (user.ok()) {
      spec.user = user->first;
      for (auto& [k, v] : user->second) spec.env[k] = v;  // HOME, USER, LOGNAME: the user's
    } else {
      grouped = user.status();
    }
  }
  pid = grouped.ok() ? launcher_.Start(spec) : Result<int>(grouped);
  shipper_.Track(want.key, log, start);
  if (!pid.ok()) {
    spdlog::error("{} could not be started: {}", ToString(want.key), pid.status().message());
    w.exit = WorkerExit{0, 127, 0};
    finished_.insert(want.key);
    shipper_.MarkFinished(want.key);
  } else {
    w.pid = *pid;
    by_pid_[w.pid] = want.key;
    spdlog::info("{} started (pid {}): {} in {}", ToString(want.key), w.pid, want.argv[0],
                 dir.string());
  }
  workers_[want.key] = std::move(w);
}

void Reconciler::Apply(const SyncResponse& response) {
  kill_grace_ = std::chrono::seconds(std::max(0, response.kill_grace_s));
  std::map<WorkerKey, const DesiredWorker*> desired;
  for (const DesiredWorker& d : response.workers) desired.emplace(d.key, &d);

  std::erase_if(finished_, [&](const WorkerKey& k) { return desired.count(k) == 0; });
  for (auto& [key, w] : workers_) {
    if (w.exit || w.stopping || desired.count(key)) continue;
    w.stopping = true;
    spdlog::info("{} (pid {}) no longer wanted: stopping (SIGTERM, SIGKILL after {}s)",
                 ToString(key), w.pid, kill_grace_.count() / 1000);
    launcher_.Stop(w.pid, kill_grace_);
  }
  for (const auto& [key, want] : desired) {
    if (workers_.count(key) || finished_.count(key)) continue;
    if (const WorkerKey* blocker = Blocker(*want)) {
      spdlog::debug("{} waits for {} to exit", ToString(key), ToString(*blocker));
      continue;
    }
    Start(*want);
  }
}

void Reconciler::StopAll() {
  size_t n = running_count();
  if (n == 0) return;
  spdlog::info("stopping {} worker(s) (SIGTERM, SIGKILL after {}s)", n, kill_grace_.count() / 1000);
  for (auto& [key, w] : workers_) {
    if (!w.exit) w.stopping = true;
  }
  for (const WorkerExit& e : launcher_.StopAll(kill_grace_)) OnExit(e);
}

size_t Reconciler::running_count() const {
  return std::count_if(workers_.begin(), workers_.end(),
                       [](const auto& kv) { return !kv.second.exit; });
}

}  // namespace drover::agent

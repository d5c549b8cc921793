#include "server/server.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <httplib.h>
#include <spdlog/spdlog.h>

#include "server/http_util.h"
#include "spec/plan_parser.h"
#include "store/sqlite_store.h"

namespace drover::server {
namespace {

namespace fs = std::filesystem;

// Writes `text` to `path` readable by the owner only, unless it exists.
Status WriteSecretFile(const fs::path& path, const std::string& text) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (fd < 0) return Unavailable("cannot create " + path.string() + ": " + std::strerror(errno));
  std::string line = text + "\n";
  bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) && ::fsync(fd) == 0;
  ::close(fd);
  return ok ? Status::Ok() : Unavailable("cannot write " + path.string());
}

}  // namespace

Status ReplaceSecretFile(const std::string& path, const std::string& text) {
  const fs::path next = path + ".new";
  std::error_code ec;
  fs::remove(next, ec);
  DROVER_RETURN_IF_ERROR(WriteSecretFile(next, text));
  fs::rename(next, path, ec);
  if (ec) return Unavailable("cannot replace " + path + ": " + ec.message());
  return Status::Ok();
}

namespace {

std::string ReadFirstLine(const fs::path& path) {
  std::ifstream in(path);
  std::string s;
  std::getline(in, s);
  return s;
}

}  // namespace

void Server::RevokeTokensLocked(const std::string& kind, const std::string& owner, store::WriteBatch* batch) {
  for (auto it = tokens_.begin(); it != tokens_.end();) {
    if (it->second.kind == kind && it->second.user == owner) {
      batch->revoked_tokens.push_back(it->first);
      it = tokens_.erase(it);
    } else {
      ++it;
    }
  }
}

Server::Server(ServerOptions options)
    : opt_(std::move(options)), history_(opt_.history), inference_(std::make_unique<serve::InferenceRouter>()) {
  // A request held at zero replicas: the next scheduling cycle scales its deployment up.
  inference_->OnDemand([this](const std::string& model) {
    std::lock_guard<std::mutex> lock(mu_);
    deployments_.Demand(model);
    Trigger();
  });
}

Server::~Server() {
  Stop();
  if (scheduler_.joinable()) scheduler_.join();
  if (inference_thread_.joinable()) inference_thread_.join();
}

double Server::Now() const {
  if (opt_.clock) return opt_.clock();
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

void Server::Stop() {
  HttpServer* http = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    http = http_.get();  // set once, before serving; never reset while the server lives
  }
  {
    std::lock_guard<std::mutex> lock(kv_mu_);
    kv_stopping_ = true;
  }
  if (logs_) logs_->Close();
  wake_scheduler_.notify_all();
  if (http) http->Stop();  // parked requests are answered as timed out
  if (inference_port_.load() > 0) inference_http_->Stop();
}

void Server::Changed() {
  ++version_;
  if (http_) http_->Notify();
}

void Server::KvChanged() {
  if (http_) http_->Notify();
}

void Server::Trigger() {
  schedule_requested_ = true;
  wake_scheduler_.notify_one();
}

Status Server::Mutate(const std::function<Status(store::WriteBatch*)>& change) {
  std::unique_lock<std::mutex> lock(mu_);
  if (!write_error_.ok()) return write_error_;
  store::WriteBatch batch;
  DROVER_RETURN_IF_ERROR(change(&batch));
  return Commit(lock, std::move(batch));
}

Status Server::Commit(std::unique_lock<std::mutex>& lock, store::WriteBatch batch) {
  if (!write_error_.ok()) {
    // Memory already holds this change: put it back as the store has it.
    lock.unlock();
    Recover(write_error_);
    return write_error_;
  }
  if (batch.empty()) {
    lock.unlock();
    return Status::Ok();
  }
  // Followers of a job's log wait for new output or its end: wake them only when a job ends.
  const bool job_ended =
      std::any_of(batch.jobs.begin(), batch.jobs.end(), [](const store::JobRecord& j) { return IsTerminal(j.state); });
  std::shared_future<Status> done = store_->ApplyAsync(std::move(batch));
  last_commit_ = done;
  Changed();
  lock.unlock();
  if (job_ended) logs_->Wake();
  Status st = done.get();
  if (!st.ok()) {
    spdlog::error("a commit failed, so the state is reloaded from the store: {}", st.ToString());
    Recover(st);
  }
  return st;
}

void Server::Recover(const Status& why) {
  std::lock_guard<std::mutex> lock(mu_);
  // Commits resolve in the order they were queued, and none is queued while
  // mu_ is held: once the newest has resolved, the store is settled.
  if (last_commit_.valid()) (void)last_commit_.get();
  // The store refused every batch behind the failed one; what it holds is
  // what memory becomes, and only then may it accept batches again.
  Result<store::Snapshot> snap = store_->Load();
  Status st = snap.ok() ? LoadLocked(*snap, true) : snap.status();
  history_.Reset();  // its open averages may hold a sample the store refused
  if (st.ok()) {
    store_->Resume();
  } else {
    write_error_ = Unavailable("the store failed (" + why.message() + ") and could not be read back (" +
                               st.message() + "); no change is accepted until the server restarts");
    spdlog::error("{}", write_error_.message());
  }
  Changed();
  Trigger();
}

Status Server::LoadLocked(const store::Snapshot& snap, bool keep_ephemeral) {
  DROVER_RETURN_IF_ERROR(keep_ephemeral ? model_.Reload(snap, Now()) : model_.Load(snap, Now()));
  policy_->RestoreReclaimTimers(snap.reclaim_timers);
  stored_timers_ = snap.reclaim_timers;
  tokens_.clear();
  users_.clear();
  for (const auto& t : snap.tokens) tokens_[t.sha256] = t;
  for (const auto& u : snap.users) users_[u.name] = u;
  DROVER_RETURN_IF_ERROR(experiments_.Load(snap));
  DROVER_RETURN_IF_ERROR(deployments_.Load(snap, [this](JobId id) {
    const Job* j = model_.FindJob(id);
    return j ? j->Alive() : 0;
  }));
  RefreshRoutesLocked();
  return Status::Ok();
}

std::vector<std::string> Server::Operations() const { return operations_; }

std::string Server::DriftFromStore() {
  std::lock_guard<std::mutex> lock(mu_);
  if (last_commit_.valid()) (void)last_commit_.get();
  Result<store::Snapshot> snap = store_->Load();
  if (!snap.ok()) return "the store cannot be read: " + snap.status().ToString();
  ClusterModel fresh;
  Status st = fresh.Load(*snap, Now());
  if (!st.ok()) return "the store does not load: " + st.ToString();
  std::string diff = ClusterModel::DurableDiff(model_, fresh);
  auto describe = [](const store::UserRecord& u) {
    std::string s = u.role;
    for (const auto& c : u.consumers) s += " " + c;
    return s;
  };
  std::map<std::string, std::string> users, stored_users;
  for (const auto& [name, u] : users_) users[name] = describe(u);
  for (const auto& u : snap->users) stored_users[u.name] = describe(u);
  if (users != stored_users) diff += "users differ\n";
  std::set<std::string> tokens, stored_tokens;
  for (const auto& [hash, t] : tokens_) tokens.insert(hash + " " + t.kind + " " + t.user);
  for (const auto& t : snap->tokens) stored_tokens.insert(t.sha256 + " " + t.kind + " " + t.user);
  if (tokens != stored_tokens) diff += "tokens differ\n";
  return diff;
}

Status Server::Bootstrap() {
  std::error_code ec;
  fs::create_directories(opt_.data_dir, ec);
  if (ec) return Unavailable("cannot create data dir " + opt_.data_dir + ": " + ec.message());
  fs::permissions(opt_.data_dir, fs::perms::owner_all, ec);
  // A data dir that has issued credentials but lost its database must not
  // start as a first start: new tokens, and every job forgotten, in silence.
  const fs::path db = fs::path(opt_.data_dir) / "drover.db", wal = fs::path(opt_.data_dir) / "drover.db-wal";
  const bool no_wal = !fs::exists(wal) || fs::file_size(wal, ec) == 0;  // WAL mode: data may be there alone
  if (!fs::exists(db) || (fs::file_size(db, ec) == 0 && no_wal)) {
    for (const char* issued : {"secret", "admin.token", "join.token"}) {
      if (fs::exists(fs::path(opt_.data_dir) / issued)) {
        return FailedPrecondition("data dir " + opt_.data_dir + " holds " + issued + " but " +
                                  (fs::exists(db) ? "an empty drover.db" : "no drover.db") +
                                  ": refusing to start afresh over it (that would issue new tokens and forget every "
                                  "job); restore drover.db from a backup, or move the data dir aside to start a new "
                                  "cluster");
      }
    }
  }
  logs_ = std::make_unique<LogStore>((fs::path(opt_.data_dir) / "logs").string());

  // Halting: a batch built on one the store refused must not commit (Recover reloads, then resumes).
  auto opened = store::SqliteStore::Open(opt_.data_dir, {.group_commit = true, .halt_after_failure = true});
  if (!opened.ok()) return opened.status();
  store_ = std::move(opened).value();
  if (opt_.wrap_store) store_ = opt_.wrap_store(std::move(store_));
  auto snap = store_->Load();
  if (!snap.ok()) return snap.status();

  fs::path secret_path = fs::path(opt_.data_dir) / "secret";
  if (!fs::exists(secret_path)) DROVER_RETURN_IF_ERROR(WriteSecretFile(secret_path, NewToken("s")));
  env_ctx_.job_token_secret = ReadFirstLine(secret_path);
  env_ctx_.default_run_as = opt_.default_run_as;
  env_ctx_.server_url = !opt_.advertise_url.empty()
                            ? opt_.advertise_url
                            : std::string(opt_.tls_cert.empty() ? "http" : "https") + "://" + opt_.host + ":" +
                                  std::to_string(bound_port_.load() ? bound_port_.load() : opt_.port);

  auto policy = sched::MakePolicy(opt_.policy);
  if (!policy.ok()) return policy.status();
  policy_ = std::move(policy).value();

  std::lock_guard<std::mutex> lock(mu_);
  DROVER_RETURN_IF_ERROR(LoadLocked(*snap, false));  // restores the policy's reclaim timers too

  store::WriteBatch batch;
  auto has_kind = [&](const char* kind) {
    return std::any_of(tokens_.begin(), tokens_.end(), [&](const auto& kv) { return kv.second.kind == kind; });
  };
  if (users_.empty()) {
    std::string token = NewToken("u");
    fs::path path = fs::path(opt_.data_dir) / "admin.token";
    fs::remove(path, ec);
    DROVER_RETURN_IF_ERROR(WriteSecretFile(path, token));
    store::UserRecord admin{"admin", "admin", {"/"}};
    store::TokenRecord t{Sha256Hex(token), "user", "admin", 0, Now()};
    users_[admin.name] = admin;
    tokens_[t.sha256] = t;
    batch.users.push_back(admin);
    batch.tokens.push_back(t);
    spdlog::info("first start: admin token written to {} (mode 0600)", path.string());
  }
  if (!has_kind("join")) {
    std::string token = NewToken("j");
    fs::path path = fs::path(opt_.data_dir) / "join.token";
    fs::remove(path, ec);
    DROVER_RETURN_IF_ERROR(WriteSecretFile(path, token));
    store::TokenRecord t{Sha256Hex(token), "join", "", 0, Now()};
    tokens_[t.sha256] = t;
    batch.tokens.push_back(t);
    spdlog::info("agents join with the token in {} (mode 0600)", path.string());
  }
  if (!batch.empty()) {
    Status st = store_->Apply(batch);
    if (!st.ok()) return st;
  }
  return Status::Ok();
}

Status Server::Run() {
  DROVER_RETURN_IF_ERROR(Bootstrap());
  if (opt_.tls_cert.empty() != opt_.tls_key.empty()) {
    return InvalidArgument("--tls-cert and --tls-key must be given together");
  }
  router_ = std::make_unique<Router>([this](const httplib::Request& req) { return Authenticate(req); }, metrics_,
                                     opt_.max_waits_per_principal);
  Routes(*router_);
  operations_ = router_->open_routes();
  for (const auto& [route, methods] : router_->routes()) {
    for (const auto& m : methods) operations_.push_back(m + " " + route);
  }
  HttpServerOptions http;
  http.host = opt_.host;
  http.port = opt_.port;
  http.tls_cert = opt_.tls_cert;
  http.tls_key = opt_.tls_key;
  http.io_threads = opt_.io_threads;
  http.workers = opt_.threads;
  http.max_body_bytes = opt_.max_body_bytes;
  auto http_server = std::make_unique<HttpServer>(
      http, [this](httplib::Request& req, httplib::Response& res) { return router_->Dispatch(req, res); });
  DROVER_RETURN_IF_ERROR(http_server->Bind());
  {
    std::lock_guard<std::mutex> lock(mu_);
    http_ = std::move(http_server);
  }
  const int port = http_->port();
  bound_port_ = port;
  if (opt_.advertise_url.empty()) {
    std::lock_guard<std::mutex> lock(mu_);
    env_ctx_.server_url =
        std::string(opt_.tls_cert.empty() ? "http" : "https") + "://" + opt_.host + ":" + std::to_string(port);
  }
  if (opt_.inference_port >= 0) {
    HttpServerOptions inf = http;
    inf.workers = opt_.inference_threads;
    inf.max_body_bytes = std::max<size_t>(opt_.max_body_bytes, size_t{32} << 20);
    auto bind = [&](int port) {
      inf.port = port;
      inference_http_ = std::make_unique<HttpServer>(inf, [this](httplib::Request& req, httplib::Response& res) {
        ServeInference(req, res);
        return std::optional<Wait>();
      });
      return inference_http_->Bind();
    };
    Status bound = bind(opt_.inference_port);
    if (!bound.ok() && opt_.inference_port_defaulted && opt_.inference_port != 0) {
      spdlog::warn("inference router: port {} is taken ({}); listening on any free port instead (--inference-port "
                   "chooses one)", opt_.inference_port, bound.message());
      bound = bind(0);
    }
    DROVER_RETURN_IF_ERROR(bound);
    inference_port_ = inference_http_->port();
    inference_thread_ = std::thread([this] { inference_http_->Run(); });
    spdlog::info("inference router listening on {}:{}", opt_.host, inference_port_.load());
  }
  scheduler_ = std::thread([this] { SchedulerLoop(); });
  spdlog::info("drover server listening on {}:{} (data in {}); web console at {}://{}:{}/", opt_.host, port,
               opt_.data_dir, opt_.tls_cert.empty() ? "http" : "https", opt_.host, port);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) http_->Stop();  // stopped while starting
  }
  http_->Run();
  Stop();
  if (scheduler_.joinable()) scheduler_.join();
  if (inference_thread_.joinable()) inference_thread_.join();
  return Status::Ok();
}

void Server::SchedulerLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    wake_scheduler_.wait_for(lock, std::chrono::duration<double>(opt_.schedule_interval),
                             [&] { return stopping_ || schedule_requested_; });
    if (stopping_) break;
    schedule_requested_ = false;
    auto t0 = std::chrono::steady_clock::now();
    store::WriteBatch batch;
    double now = Now();
    model_.CheckHosts(now, opt_.heartbeat_timeout, &batch);
    if (opt_.worker_heartbeat_timeout > 0) model_.CheckWorkers(now, opt_.worker_heartbeat_timeout, &batch);
    experiments_.Advance(now, ExperimentHooksLocked(), &batch);  // trials submitted now are scheduled now
    deployments_.Advance(now, DeploymentHooksLocked(), &batch);   // so are replicas
    model_.SetWorkerCaps(deployments_.Caps());
    model_.Schedule(*policy_, now, &batch);
    RefreshRoutesLocked();  // removed replicas get nothing more
    if (std::map<std::string, double> timers = policy_->ReclaimTimers(); timers != stored_timers_) {
      batch.reclaim_timers = timers;  // a consumer's grace period must not start over on a restart
      stored_timers_ = std::move(timers);
    }
    model_.FlushProgress(&batch);  // what workers reported since the last cycle, so a restart shows it
    if (history_.Due(now)) history_.Record(now, SampleLocked(), &batch);
    // An ended job's unfinished output line: its last chunks, if any still come, read it back from its log.
    for (auto it = metric_tail_.begin(); it != metric_tail_.end();) {
      const Job* j = model_.FindJob(it->first);
      it = !j || IsTerminal(j->rec.state) ? metric_tail_.erase(it) : std::next(it);
    }
    {
      std::lock_guard<std::mutex> kv_lock(kv_mu_);
      for (JobId id : kv_.Jobs()) {
        const Job* j = model_.FindJob(id);
        if (!j || IsTerminal(j->rec.state)) kv_.Drop(id);
      }
    }
    metrics_.ObserveCycle(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    Status st = Commit(lock, std::move(batch));  // on failure memory is reloaded from the store
    if (!st.ok()) spdlog::error("could not store the scheduler's decisions: {}", st.ToString());
    lock.lock();
  }
}

std::optional<Principal> Server::Authenticate(const httplib::Request& req) {
  std::string auth = req.get_header_value("Authorization");
  if (auth.rfind("Bearer ", 0) != 0) return std::nullopt;
  std::string token = auth.substr(7);
  if (token.rfind("drv_w_", 0) == 0) {
    size_t us = token.find('_', 6);
    JobId job = us == std::string::npos ? 0 : std::strtoull(token.substr(6, us - 6).c_str(), nullptr, 10);
    if (!job || JobToken(job, env_ctx_.job_token_secret) != token) return std::nullopt;
    // A worker token expires with its job.
    std::lock_guard<std::mutex> lock(mu_);
    const Job* j = model_.FindJob(job);
    if (!j || IsTerminal(j->rec.state)) return std::nullopt;
    return Principal{Role::kWorker, "job-" + std::to_string(job), {}, job};
  }
  std::lock_guard<std::mutex> lock(mu_);
  auto it = tokens_.find(Sha256Hex(token));
  if (it == tokens_.end()) return std::nullopt;
  const store::TokenRecord& t = it->second;
  if (t.kind == "join") return Principal{Role::kJoin, "", {}, 0};
  if (t.kind == "agent") return Principal{Role::kAgent, t.user, {}, 0};
  if (t.kind != "user") return std::nullopt;
  Result<Principal> user = UserLocked(t.user);
  return user.ok() ? std::optional<Principal>(*user) : std::nullopt;
}

std::optional<std::pair<api::JobState, std::string>> Server::JobStateLocked(JobId id) const {
  const Job* j = model_.FindJob(id);
  if (!j) return std::nullopt;
  return std::make_pair(j->rec.state, j->rec.reason);
}

void Server::CancelLocked(JobId id, const std::string& why, store::WriteBatch* batch) {
  const Job* j = model_.FindJob(id);
  if (j && !IsTerminal(j->rec.state)) (void)model_.Cancel(id, why, Now(), batch);
}

Result<Principal> Server::UserLocked(const std::string& user) const {
  auto u = users_.find(user);
  if (u == users_.end()) return PermissionDenied("user " + user + " no longer exists");
  return Principal{u->second.role == "admin" ? Role::kAdmin : Role::kUser, u->second.name, u->second.consumers, 0};
}

const Job* Server::VisibleJob(const Principal& who, const httplib::Request& req) const {
  auto id = PathNumber(req, 1);
  const Job* j = id ? model_.FindJob(*id) : nullptr;
  return j && MaySeeJob(who, j->rec.id, j->rec.consumer) ? j : nullptr;
}

Status Server::NoSuchJob(const httplib::Request& req) {
  return NotFound("job " + req.matches[1].str() + " does not exist");
}

Status Server::RootWorkersAllowedLocked(const std::string& consumer) const {
  if (!opt_.no_root_workers || model_.plan().Find(consumer) < 0) return Status::Ok();
  const std::string user = model_.RunAs(consumer, env_ctx_);
  if (!user.empty() && user != "root" && user != "0") return Status::Ok();
  return PermissionDenied("consumer " + consumer + " would run its workers as root (" +
                          (user.empty() ? "no run_as in the plan for it or above it, and no --default-run-as"
                                        : "its run_as is " + user) +
                          "), which this server refuses (--no-root-workers); ask an admin to give it a run_as");
}

Status Server::JobQuotaLocked(const Principal& who) const {
  if (who.role == Role::kAdmin || static_cast<int>(model_.ActiveJobs(who.name).size()) < opt_.max_active_jobs_per_user) {
    return Status::Ok();
  }
  return Status(StatusCode::kResourceExhausted,
                "user " + who.name + " already has " + std::to_string(opt_.max_active_jobs_per_user) +
                    " jobs that have not ended, the most one user may have; cancel some first");
}

void Server::Routes(Router& router) {
  ClusterRoutes(router);
  UserRoutes(router);
  AgentRoutes(router);
  JobRoutes(router);
  LogRoutes(router);
  RuntimeRoutes(router);
  ExperimentRoutes(router);
  DeploymentRoutes(router);
  ConsoleRoutes(router);
}

}  // namespace drover::server

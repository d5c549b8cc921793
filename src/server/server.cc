#include "server/server.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <httplib.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "server/agent_messages.h"
#include "spec/plan_parser.h"

namespace drover::server {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

int HttpStatus(StatusCode c) {
  switch (c) {
    case StatusCode::kOk: return 200;
    case StatusCode::kInvalidArgument: return 400;
    case StatusCode::kUnauthenticated: return 401;
    case StatusCode::kPermissionDenied: return 403;
    case StatusCode::kNotFound: return 404;
    case StatusCode::kAlreadyExists:
    case StatusCode::kFailedPrecondition: return 409;
    case StatusCode::kResourceExhausted: return 413;
    case StatusCode::kUnavailable: return 503;
    default: return 500;
  }
}

void Reply(httplib::Response& res, int status, const json& body) {
  res.status = status;
  // Keys of a job's store are caller's bytes: never throw on invalid UTF-8.
  res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
}

void Fail(httplib::Response& res, const Status& st) { Reply(res, HttpStatus(st.code()), {{"error", st.message()}}); }

// Writes `text` to `path` readable by the owner only, unless it exists.
Status WriteSecretFile(const fs::path& path, const std::string& text) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (fd < 0) return Unavailable("cannot create " + path.string() + ": " + std::strerror(errno));
  std::string line = text + "\n";
  bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) && ::fsync(fd) == 0;
  ::close(fd);
  return ok ? Status::Ok() : Unavailable("cannot write " + path.string());
}

std::string ReadFirstLine(const fs::path& path) {
  std::ifstream in(path);
  std::string s;
  std::getline(in, s);
  return s;
}

json ResourcesJson(const Resources& r) {
  return {{"gpus", r.gpus}, {"cpu_millis", r.cpu_millis}, {"memory_mib", r.memory_mib}};
}

template <typename T>
json OrNull(const std::optional<T>& v) {
  return v ? json(*v) : json(nullptr);
}

json JobSummary(const Job& j, const std::string& reason) {
  const store::JobRecord& r = j.rec;
  const int workers = j.Alive();
  return {{"id", r.id},
          {"name", r.name},
          {"consumer", r.consumer},
          {"user", r.user},
          {"state", r.state},
          {"priority", r.priority},
          {"workers", {{"min", r.workers.min}, {"max", r.workers.max}}},
          {"world_size", workers},
          {"gpus", workers * r.per_worker.gpus},
          {"submit_time", r.submit_time},
          {"start_time", r.start_time},
          {"end_time", r.end_time},
          {"reason", reason.empty() ? r.reason : reason},
          {"step", OrNull(j.progress.step)},
          {"epoch", OrNull(j.progress.epoch)},
          {"loss", OrNull(j.progress.loss)},
          {"samples_per_s", OrNull(j.progress.samples_per_s)}};
}

std::optional<int64_t> IntParam(const httplib::Request& req, const char* name) {
  if (!req.has_param(name)) return std::nullopt;
  std::string v = req.get_param_value(name);
  char* end = nullptr;
  long long n = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end) return std::nullopt;
  return n;
}

}  // namespace

Server::Server(ServerOptions options) : opt_(std::move(options)) {}

Server::~Server() {
  Stop();
  if (scheduler_.joinable()) scheduler_.join();
}

double Server::Now() const {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

void Server::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  {
    std::lock_guard<std::mutex> lock(kv_mu_);
    kv_stopping_ = true;
  }
  wake_scheduler_.notify_all();
  changed_.notify_all();
  kv_changed_.notify_all();
  if (http_) http_->stop();
}

void Server::Trigger() {
  schedule_requested_ = true;
  wake_scheduler_.notify_one();
}

Status Server::Commit(std::unique_lock<std::mutex>& lock, store::WriteBatch batch) {
  if (batch.empty()) {
    lock.unlock();
    return Status::Ok();
  }
  std::shared_future<Status> done = store_->ApplyAsync(std::move(batch));
  ++version_;
  changed_.notify_all();
  lock.unlock();
  return done.get();
}

Status Server::Bootstrap() {
  std::error_code ec;
  fs::create_directories(opt_.data_dir, ec);
  if (ec) return Unavailable("cannot create data dir " + opt_.data_dir + ": " + ec.message());
  fs::permissions(opt_.data_dir, fs::perms::owner_all, ec);
  fs::create_directories(fs::path(opt_.data_dir) / "logs", ec);

  auto opened = store::OpenSqliteStore(opt_.data_dir);
  if (!opened.ok()) return opened.status();
  store_ = std::move(opened).value();
  auto snap = store_->Load();
  if (!snap.ok()) return snap.status();

  fs::path secret_path = fs::path(opt_.data_dir) / "secret";
  if (!fs::exists(secret_path)) DROVER_RETURN_IF_ERROR(WriteSecretFile(secret_path, NewToken("s")));
  env_ctx_.job_token_secret = ReadFirstLine(secret_path);
  env_ctx_.server_url = !opt_.advertise_url.empty()
                            ? opt_.advertise_url
                            : std::string(opt_.tls_cert.empty() ? "http" : "https") + "://" + opt_.host + ":" +
                                  std::to_string(bound_port_.load() ? bound_port_.load() : opt_.port);

  std::lock_guard<std::mutex> lock(mu_);
  DROVER_RETURN_IF_ERROR(model_.Load(*snap, Now()));
  for (const auto& t : snap->tokens) tokens_[t.sha256] = t;
  for (const auto& u : snap->users) users_[u.name] = u;

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
  auto policy = sched::MakePolicy(opt_.policy);
  if (!policy.ok()) return policy.status();
  policy_ = std::move(policy).value();
  return Status::Ok();
}

// Who is calling: a user or admin, an agent, the join token, or a job's worker.
struct Server::Call {
  Principal who;
};

Status Server::Run() {
  DROVER_RETURN_IF_ERROR(Bootstrap());
  if (!opt_.tls_cert.empty() || !opt_.tls_key.empty()) {
    if (opt_.tls_cert.empty() || opt_.tls_key.empty()) {
      return InvalidArgument("--tls-cert and --tls-key must be given together");
    }
    auto ssl = std::make_unique<httplib::SSLServer>(opt_.tls_cert.c_str(), opt_.tls_key.c_str());
    if (!ssl->is_valid()) return InvalidArgument("cannot load TLS certificate or key");
    http_ = std::move(ssl);
  } else {
    http_ = std::make_unique<httplib::Server>();
  }
  int threads = opt_.threads;
  http_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  http_->set_payload_max_length(opt_.max_body_bytes);
  http_->set_keep_alive_max_count(100000);
  http_->set_tcp_nodelay(true);  // small JSON answers must not wait for delayed ACKs
  http_->set_read_timeout(30, 0);
  Routes();

  int port = opt_.port;
  if (port == 0) {
    port = http_->bind_to_any_port(opt_.host);
  } else if (!http_->bind_to_port(opt_.host, port)) {
    port = -1;
  }
  if (port < 0) return Unavailable("cannot listen on " + opt_.host + ":" + std::to_string(opt_.port));
  bound_port_ = port;
  if (opt_.advertise_url.empty()) {
    std::lock_guard<std::mutex> lock(mu_);
    env_ctx_.server_url =
        std::string(opt_.tls_cert.empty() ? "http" : "https") + "://" + opt_.host + ":" + std::to_string(port);
  }
  scheduler_ = std::thread([this] { SchedulerLoop(); });
  spdlog::info("drover server listening on {}:{} (data in {})", opt_.host, port, opt_.data_dir);
  if (!http_->listen_after_bind()) {
    if (!stopping_) return Unavailable("the HTTP server stopped unexpectedly");
  }
  Stop();
  if (scheduler_.joinable()) scheduler_.join();
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
    model_.Schedule(*policy_, now, &batch);
    {
      std::lock_guard<std::mutex> kv_lock(kv_mu_);
      for (JobId id : kv_.Jobs()) {
        const Job* j = model_.FindJob(id);
        if (!j || IsTerminal(j->rec.state)) kv_.Drop(id);
      }
    }
    metrics_.ObserveCycle(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    Status st = Commit(lock, std::move(batch));
    if (!st.ok()) spdlog::error("could not store the scheduler's decisions: {}", st.ToString());
    lock.lock();
  }
}

void Server::Routes() {
  httplib::Server& h = *http_;
  // Wraps a handler with authentication, role checks and metrics.
  auto api = [this](const std::string& route, std::vector<Role> roles,
                    std::function<void(const Principal&, const httplib::Request&, httplib::Response&)> fn) {
    return [this, route, roles, fn](const httplib::Request& req, httplib::Response& res) {
      auto t0 = std::chrono::steady_clock::now();
      std::string auth = req.get_header_value("Authorization");
      std::optional<Principal> who;
      if (auth.rfind("Bearer ", 0) == 0) {
        std::string token = auth.substr(7);
        if (token.rfind("drv_w_", 0) == 0) {
          size_t us = token.find('_', 6);
          JobId job = us == std::string::npos ? 0 : std::strtoull(token.substr(6, us - 6).c_str(), nullptr, 10);
          if (job && ClusterModel::JobToken(job, env_ctx_.job_token_secret) == token) {
            who = Principal{Role::kWorker, "job-" + std::to_string(job), {}, job};
          }
        } else {
          std::lock_guard<std::mutex> lock(mu_);
          auto it = tokens_.find(Sha256Hex(token));
          if (it != tokens_.end()) {
            const store::TokenRecord& t = it->second;
            if (t.kind == "join") {
              who = Principal{Role::kJoin, "", {}, 0};
            } else if (t.kind == "agent") {
              who = Principal{Role::kAgent, t.user, {}, 0};
            } else if (t.kind == "user" && users_.count(t.user)) {
              const store::UserRecord& u = users_[t.user];
              who = Principal{u.role == "admin" ? Role::kAdmin : Role::kUser, u.name, u.consumers, 0};
            }
          }
        }
      }
      if (!who) {
        Reply(res, 401, {{"error", "missing or invalid token: log in with `drover login` (the admin token is in "
                                   "the server's data dir)"}});
      } else if (std::find(roles.begin(), roles.end(), who->role) == roles.end()) {
        Reply(res, 403, {{"error", "this token may not call " + route}});
      } else {
        fn(*who, req, res);
      }
      metrics_.ObserveRequest(route, res.status,
                              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    };
  };
  const std::vector<Role> people = {Role::kAdmin, Role::kUser};
  const std::vector<Role> admins = {Role::kAdmin};

  h.Get("/healthz", [](const httplib::Request&, httplib::Response& res) { res.set_content("ok\n", "text/plain"); });

  h.Get("/metrics", api("/metrics", people, [this](const Principal&, const httplib::Request&, httplib::Response& res) {
    std::ostringstream o;
    {
      std::lock_guard<std::mutex> lock(mu_);
      std::map<std::string, int> by_state;
      for (const auto& [id, j] : model_.jobs()) ++by_state[j.rec.state];
      o << "# HELP drover_jobs Jobs by state.\n# TYPE drover_jobs gauge\n";
      for (const char* s : {kPending, kStarting, kRunning, kSucceeded, kFailed, kCancelled, kPreempted}) {
        o << "drover_jobs{state=\"" << s << "\"} " << by_state[s] << "\n";
      }
      o << "# HELP drover_consumer_gpus_allocated GPUs held per consumer (subtree).\n"
           "# TYPE drover_consumer_gpus_allocated gauge\n";
      const auto& usage = model_.usage();
      for (int c = 0; c < model_.plan().size() && c < static_cast<int>(usage.size()); ++c) {
        o << "drover_consumer_gpus_allocated{consumer=\"" << model_.plan().node(c).path << "\"} "
          << usage[c].allocated << "\n";
      }
      int up = 0;
      for (const auto& [n, host] : model_.hosts()) up += host.rec.state == "up";
      o << "# HELP drover_hosts_up Hosts whose agent is in contact.\n# TYPE drover_hosts_up gauge\n"
        << "drover_hosts_up " << up << "\n";
    }
    res.set_content(metrics_.Render(o.str()), "text/plain; version=0.0.4");
  }));

  h.Get("/api/v1/whoami", api("/api/v1/whoami", {Role::kAdmin, Role::kUser, Role::kAgent, Role::kWorker},
                              [](const Principal& who, const httplib::Request&, httplib::Response& res) {
    const char* role = who.role == Role::kAdmin ? "admin" : who.role == Role::kUser ? "user"
                       : who.role == Role::kAgent ? "agent" : "worker";
    Reply(res, 200, {{"name", who.name}, {"role", role}, {"consumers", who.consumers}});
  }));

  // -- agents ----------------------------------------------------------------
  h.Post("/api/v1/agent/register", api("/api/v1/agent/register", {Role::kJoin},
                                        [this](const Principal&, const httplib::Request& req, httplib::Response& res) {
    Result<store::HostRecord> decoded = DecodeRegistration(req.body);
    if (!decoded.ok()) return Fail(res, decoded.status());
    store::HostRecord host = std::move(decoded).value();
    std::string token = NewToken("a");
    store::TokenRecord t{Sha256Hex(token), "agent", host.name, 0, Now()};
    std::unique_lock<std::mutex> lock(mu_);
    store::WriteBatch batch;
    // An agent registering again replaces its previous token.
    for (auto it = tokens_.begin(); it != tokens_.end();) {
      if (it->second.kind == "agent" && it->second.user == host.name) {
        batch.revoked_tokens.push_back(it->first);
        it = tokens_.erase(it);
      } else {
        ++it;
      }
    }
    tokens_[t.sha256] = t;
    batch.tokens.push_back(t);
    model_.RegisterHost(host, req.remote_addr == "::1" ? "127.0.0.1" : req.remote_addr, Now(), &batch);
    Trigger();
    spdlog::info("host {} registered: {}", host.name, host.capacity.ToString());
    Status st = Commit(lock, std::move(batch));
    if (!st.ok()) return Fail(res, st);
    Reply(res, 200, {{"host", host.name}, {"agent_token", token}, {"heartbeat_timeout_s", opt_.heartbeat_timeout}});
  }));

  h.Post("/api/v1/agent/sync", api("/api/v1/agent/sync", {Role::kAgent},
                                    [this](const Principal& who, const httplib::Request& req, httplib::Response& res) {
    Result<SyncReport> decoded = DecodeSyncReport(req.body);
    if (!decoded.ok()) return Fail(res, decoded.status());
    const std::vector<ReportedWorker>& report = decoded->workers;
    // Logs: appended outside the model lock. One file per (job, rank); an
    // agent's offsets count from its own file, so each host's chunks are
    // placed at a base recorded when that host first wrote (kept in a sidecar
    // file across restarts). Resends are harmless.
    {
      std::lock_guard<std::mutex> lock(log_mu_);
      for (const LogChunkIn& l : decoded->logs) {
        fs::path dir = fs::path(opt_.data_dir) / "logs" / std::to_string(l.job);
        std::error_code ec;
        fs::create_directories(dir, ec);
        fs::path file = dir / (std::to_string(l.rank) + ".log");
        fs::path side = dir / (std::to_string(l.rank) + ".base");
        uint64_t have = fs::exists(file) ? fs::file_size(file) : 0;
        std::string base_host;
        uint64_t base = 0;
        if (std::ifstream in(side); in) {
          std::getline(in, base_host);
          in >> base;
        }
        if (base_host != who.name) {
          base = have >= l.offset ? have - l.offset : 0;
          std::ofstream(side, std::ios::trunc) << who.name << "\n" << base << "\n";
        }
        uint64_t at = base + l.offset;
        if (at + l.data.size() <= have) continue;
        std::string data = at < have ? l.data.substr(have - at) : l.data;
        std::ofstream(file, std::ios::app | std::ios::binary) << data;
      }
    }
    int wait_ms = decoded->wait_ms;
    std::unique_lock<std::mutex> lock(mu_);
    if (!model_.hosts().count(who.name)) return Fail(res, NotFound("host " + who.name + " is not registered"));
    store::WriteBatch batch;
    std::vector<DesiredWorker> desired = model_.Sync(who.name, report, Now(), env_ctx_, &batch);
    bool changed = !batch.empty();
    if (changed) Trigger();
    bool answer_now = changed || model_.NeedsChange(who.name, report);
    Status st = Commit(lock, std::move(batch));
    if (!st.ok()) return Fail(res, st);
    if (!answer_now) {
      lock.lock();
      uint64_t seen = version_;
      std::vector<ReportedWorker> running;
      for (const auto& r : report) {
        if (!r.exited && !r.stopping) running.push_back(r);
      }
      changed_.wait_for(lock, std::chrono::milliseconds(wait_ms), [&] {
        return stopping_ || (version_ != seen && model_.NeedsChange(who.name, running));
      });
      desired = model_.Desired(who.name, env_ctx_);
      lock.unlock();
    }
    json out = json::array();
    for (const DesiredWorker& d : desired) {
      out.push_back({{"job", d.job}, {"rank", d.rank}, {"generation", d.generation}, {"argv", d.argv},
                     {"env", d.env}, {"gpus", d.gpus}});
    }
    Reply(res, 200, {{"workers", out}, {"kill_grace_s", 10}});
  }));

  // -- hosts, plan, consumers --------------------------------------------------
  h.Get("/api/v1/hosts", api("/api/v1/hosts", people, [this](const Principal&, const httplib::Request&,
                                                              httplib::Response& res) {
    std::lock_guard<std::mutex> lock(mu_);
    json hosts = json::array();
    for (const auto& [name, host] : model_.hosts()) {
      int64_t used = 0;
      for (const auto& [id, j] : model_.jobs()) {
        for (const auto& w : j.workers) used += (w.host == name) * j.rec.per_worker.gpus;
      }
      hosts.push_back({{"name", name}, {"state", host.rec.state}, {"capacity", ResourcesJson(host.rec.capacity)},
                       {"gpus_used", used}, {"last_seen", host.rec.last_seen},
                       {"gpus", json::parse(host.rec.gpus_json, nullptr, false)}});
    }
    Reply(res, 200, {{"hosts", hosts}});
  }));

  auto consumers_json = [this]() {
    json out = json::array();
    const ConsumerTree& t = model_.plan();
    const auto& usage = model_.usage();
    for (int c = 0; c < t.size(); ++c) {
      const ConsumerNode& n = t.node(c);
      int64_t owned = n.plan.owned;
      if (c == 0) {  // the root owns the cluster: every GPU of a host that is up
        owned = 0;
        for (const auto& [name, h] : model_.hosts()) owned += h.rec.state == "up" ? h.rec.capacity.gpus : 0;
      }
      json row = {{"path", n.path}, {"owned", owned}, {"share", n.plan.share},
                  {"limit", n.plan.limit ? json(*n.plan.limit) : json(nullptr)},
                  {"lend", n.plan.lend}, {"borrow", n.plan.borrow}, {"reclaim_grace", n.plan.reclaim_grace}};
      if (c < static_cast<int>(usage.size())) {
        const sched::ConsumerUsage& u = usage[c];
        row.update({{"demand", u.demand}, {"entitlement", u.entitlement}, {"allocated", u.allocated},
                    {"borrowed", u.borrowed}, {"lent", u.lent}, {"pending", u.pending}});
      } else {
        row.update({{"demand", 0}, {"entitlement", 0}, {"allocated", 0}, {"borrowed", 0}, {"lent", 0}, {"pending", 0}});
      }
      out.push_back(row);
    }
    return out;
  };

  h.Get("/api/v1/consumers", api("/api/v1/consumers", people, [this, consumers_json](
                                     const Principal&, const httplib::Request&, httplib::Response& res) {
    std::lock_guard<std::mutex> lock(mu_);
    Reply(res, 200, {{"consumers", consumers_json()}});
  }));

  h.Get("/api/v1/plan", api("/api/v1/plan", people, [this](const Principal&, const httplib::Request&,
                                                            httplib::Response& res) {
    std::lock_guard<std::mutex> lock(mu_);
    Reply(res, 200, {{"yaml", model_.plan_yaml()}});
  }));

  h.Put("/api/v1/plan", api("/api/v1/plan", admins, [this](const Principal&, const httplib::Request& req,
                                                            httplib::Response& res) {
    Result<ConsumerTree> tree = ParsePlan(req.body, "plan.yaml");
    if (!tree.ok()) return Fail(res, tree.status());
    std::unique_lock<std::mutex> lock(mu_);
    store::WriteBatch batch;
    Status st = model_.ApplyPlan(*tree, req.body, &batch);
    if (!st.ok()) return Fail(res, st);
    Trigger();
    st = Commit(lock, std::move(batch));
    if (!st.ok()) return Fail(res, st);
    Reply(res, 200, {{"consumers", tree->size() - 1}});
  }));

  // -- users -------------------------------------------------------------------
  h.Post("/api/v1/users", api("/api/v1/users", admins, [this](const Principal&, const httplib::Request& req,
                                                               httplib::Response& res) {
    json body = json::parse(req.body, nullptr, false);
    if (body.is_discarded() || !body.is_object()) return Fail(res, InvalidArgument("body: expected a JSON object"));
    if (!body.contains("name") || !body["name"].is_string() || body["name"].get<std::string>().empty()) {
      return Fail(res, InvalidArgument("name: expected a non-empty string"));
    }
    std::string role = body.value("role", "user");
    if (role != "user" && role != "admin") return Fail(res, InvalidArgument("role: expected \"user\" or \"admin\""));
    store::UserRecord u{body["name"], role, {}};
    if (body.contains("consumers")) {
      if (!body["consumers"].is_array()) return Fail(res, InvalidArgument("consumers: expected a list of paths"));
      for (const json& c : body["consumers"]) {
        if (!c.is_string()) return Fail(res, InvalidArgument("consumers: expected a list of paths"));
        u.consumers.push_back(c);
      }
    }
    std::string token = NewToken("u");
    store::TokenRecord t{Sha256Hex(token), "user", u.name, 0, Now()};
    std::unique_lock<std::mutex> lock(mu_);
    for (const std::string& c : u.consumers) {
      if (model_.plan().Find(c) < 0) return Fail(res, NotFound("consumers: " + c + " does not exist in the plan"));
    }
    users_[u.name] = u;
    tokens_[t.sha256] = t;
    store::WriteBatch batch;
    batch.users.push_back(u);
    batch.tokens.push_back(t);
    Status st = Commit(lock, std::move(batch));
    if (!st.ok()) return Fail(res, st);
    Reply(res, 201, {{"name", u.name}, {"role", u.role}, {"consumers", u.consumers}, {"token", token}});
  }));

  h.Post("/api/v1/tokens", api("/api/v1/tokens", people, [this](const Principal& who, const httplib::Request&,
                                                                 httplib::Response& res) {
    std::string token = NewToken("u");
    store::TokenRecord t{Sha256Hex(token), "user", who.name, 0, Now()};
    std::unique_lock<std::mutex> lock(mu_);
    tokens_[t.sha256] = t;
    store::WriteBatch batch;
    batch.tokens.push_back(t);
    Status st = Commit(lock, std::move(batch));
    if (!st.ok()) return Fail(res, st);
    Reply(res, 201, {{"name", who.name}, {"token", token}});
  }));

  // Revokes a user token: your own, or anyone's for an admin. The body names it.
  h.Post("/api/v1/tokens/revoke", api("/api/v1/tokens/revoke", people, [this](const Principal& who,
                                                                             const httplib::Request& req,
                                                                             httplib::Response& res) {
    json body = json::parse(req.body, nullptr, false);
    if (body.is_discarded() || !body.is_object() || !body.contains("token") || !body["token"].is_string()) {
      return Fail(res, InvalidArgument("token: expected the token to revoke, as a string"));
    }
    std::string hash = Sha256Hex(body["token"].get<std::string>());
    std::unique_lock<std::mutex> lock(mu_);
    auto it = tokens_.find(hash);
    bool mine = it != tokens_.end() && it->second.kind == "user" && it->second.user == who.name;
    bool allowed = it != tokens_.end() && it->second.kind == "user" && (mine || who.role == Role::kAdmin);
    if (!allowed) return Fail(res, NotFound("token: no such token of yours"));
    tokens_.erase(it);
    store::WriteBatch batch;
    batch.revoked_tokens.push_back(hash);
    Status st = Commit(lock, std::move(batch));
    if (!st.ok()) return Fail(res, st);
    Reply(res, 200, {{"revoked", true}});
  }));

  // -- jobs --------------------------------------------------------------------
  h.Post("/api/v1/jobs", api("/api/v1/jobs", people, [this](const Principal& who, const httplib::Request& req,
                                                             httplib::Response& res) {
    Result<ParsedJob> parsed = ParseJobSpec(req.body, "job");
    if (!parsed.ok()) return Fail(res, parsed.status());
    std::unique_lock<std::mutex> lock(mu_);
    store::WriteBatch batch;
    Result<JobId> id = model_.Submit(*parsed, req.body, who, Now(), &batch);
    if (!id.ok()) return Fail(res, id.status());
    Trigger();
    Status st = Commit(lock, std::move(batch));
    if (!st.ok()) {
      lock.lock();
      store::WriteBatch undo;
      (void)model_.Cancel(*id, "could not be stored: " + st.message(), Now(), &undo);
      return Fail(res, st);
    }
    Reply(res, 201, {{"id", *id}, {"state", kPending}});
  }));

  h.Get("/api/v1/jobs", api("/api/v1/jobs", people, [this](const Principal& who, const httplib::Request& req,
                                                            httplib::Response& res) {
    std::string state = req.get_param_value("state"), consumer = req.get_param_value("consumer"),
                user = req.get_param_value("user");
    int64_t limit = std::clamp<int64_t>(IntParam(req, "limit").value_or(100), 1, 1000);
    int64_t after = IntParam(req, "after").value_or(0);
    std::lock_guard<std::mutex> lock(mu_);
    json jobs = json::array();
    JobId last = 0;
    for (auto it = model_.jobs().upper_bound(static_cast<JobId>(after)); it != model_.jobs().end(); ++it) {
      const Job& j = it->second;
      if (!MayUse(who, j.rec.consumer)) continue;
      if (!state.empty() && j.rec.state != state) continue;
      if (!consumer.empty() && !PathWithin(j.rec.consumer, consumer)) continue;
      if (!user.empty() && j.rec.user != user) continue;
      if (static_cast<int64_t>(jobs.size()) == limit) {
        last = jobs.back()["id"];
        break;
      }
      jobs.push_back(JobSummary(j, model_.PendingReason(j.rec.id)));
    }
    json out = {{"jobs", jobs}};
    if (last) out["next"] = last;
    Reply(res, 200, out);
  }));

  auto job_id = [](const httplib::Request& req) -> std::optional<JobId> {
    std::string s = req.matches[1];
    char* end = nullptr;
    unsigned long long v = std::strtoull(s.c_str(), &end, 10);
    if (s.empty() || *end) return std::nullopt;
    return static_cast<JobId>(v);
  };
  // The job of the request's path if `who` may see it (admins: any; users:
  // their subtrees; workers: their own job), else null. Call with mu_ held.
  auto visible_job = [this, job_id](const Principal& who, const httplib::Request& req) -> const Job* {
    auto id = job_id(req);
    const Job* j = id ? model_.FindJob(*id) : nullptr;
    return j && MaySeeJob(who, j->rec.id, j->rec.consumer) ? j : nullptr;
  };
  auto no_such_job = [](const httplib::Request& req) { return NotFound("job " + req.matches[1].str() + " does not exist"); };
  const std::vector<Role> job_readers = {Role::kAdmin, Role::kUser, Role::kWorker};

  h.Get(R"(/api/v1/jobs/(\d+))", api("/api/v1/jobs/{id}", job_readers,
                                      [this, job_id, visible_job, no_such_job](const Principal& who,
                                                                               const httplib::Request& req,
                                                                               httplib::Response& res) {
    auto id = job_id(req);
    json out;
    {
      std::lock_guard<std::mutex> lock(mu_);
      const Job* j = visible_job(who, req);
      if (!j) return Fail(res, no_such_job(req));
      out = JobSummary(*j, model_.PendingReason(j->rec.id));
      out["command"] = j->rec.argv;
      out["resources"] = ResourcesJson(j->rec.per_worker);
      out["restarts"] = j->rec.restarts;
      out["max_restarts"] = j->rec.max_restarts;
      out["failures"] = j->rec.failures;
      out["failed_rank"] = j->rec.failed_rank >= 0 ? json(j->rec.failed_rank) : json();
      double backoff = j->rec.workers.rigid() ? 0 : BackoffUntil(j->rec);
      out["backoff_until"] = backoff > Now() ? json(backoff) : json();
      out["attained_gpu_seconds"] = j->rec.attained_service;
      json workers = json::array();
      for (const auto& w : j->workers) {
        workers.push_back({{"rank", w.rank}, {"host", w.host}, {"gpus", w.gpus}, {"pid", w.pid},
                           {"state", w.state}, {"generation", w.generation}});
      }
      out["worker_list"] = workers;
      out["reported_world_size"] = OrNull(j->progress.world_size);
      json rescales = json::array();
      for (const Rescale& r : j->rescales) {
        rescales.push_back({{"time", r.time}, {"from", r.from}, {"to", r.to}, {"pause_ms", OrNull(r.pause_ms)}});
      }
      out["rescales"] = rescales;
    }
    auto events = store_->Events(*id, 200);
    json ev = json::array();
    if (events.ok()) {
      for (const auto& e : *events) ev.push_back({{"time", e.time}, {"type", e.type}, {"message", e.message}});
    }
    out["events"] = ev;
    Reply(res, 200, out);
  }));

  h.Post(R"(/api/v1/jobs/(\d+)/cancel)", api("/api/v1/jobs/{id}/cancel", people,
                                              [this, job_id](const Principal& who, const httplib::Request& req,
                                                             httplib::Response& res) {
    auto id = job_id(req);
    std::unique_lock<std::mutex> lock(mu_);
    const Job* j = id ? model_.FindJob(*id) : nullptr;
    if (!j || !MayUse(who, j->rec.consumer)) return Fail(res, NotFound("job " + req.matches[1].str() + " does not exist"));
    store::WriteBatch batch;
    Status st = model_.Cancel(*id, "cancelled by " + who.name, Now(), &batch);
    if (!st.ok()) return Fail(res, st);
    Trigger();
    st = Commit(lock, std::move(batch));
    if (!st.ok()) return Fail(res, st);
    Reply(res, 200, {{"id", *id}, {"state", kCancelled}});
  }));

  h.Patch(R"(/api/v1/jobs/(\d+))", api("/api/v1/jobs/{id}", people,
                                        [this, job_id](const Principal& who, const httplib::Request& req,
                                                       httplib::Response& res) {
    auto id = job_id(req);
    json body = json::parse(req.body, nullptr, false);
    if (body.is_discarded() || !body.is_object()) return Fail(res, InvalidArgument("body: expected a JSON object"));
    std::optional<int> priority;
    std::optional<WorkerBounds> bounds;
    if (body.contains("priority")) {
      if (!body["priority"].is_number_integer()) return Fail(res, InvalidArgument("priority: expected an integer"));
      priority = body["priority"].get<int>();
    }
    if (body.contains("workers")) {
      const json& w = body["workers"];
      if (!w.is_object() || !w.contains("min") || !w.contains("max") || !w["min"].is_number_integer() ||
          !w["max"].is_number_integer()) {
        return Fail(res, InvalidArgument("workers: expected {\"min\": N, \"max\": M}"));
      }
      bounds = WorkerBounds{w["min"].get<int>(), w["max"].get<int>()};
    }
    std::unique_lock<std::mutex> lock(mu_);
    const Job* j = id ? model_.FindJob(*id) : nullptr;
    if (!j || !MayUse(who, j->rec.consumer)) return Fail(res, NotFound("job " + req.matches[1].str() + " does not exist"));
    store::WriteBatch batch;
    Status st = model_.Update(*id, priority, bounds, Now(), &batch);
    if (!st.ok()) return Fail(res, st);
    Trigger();
    st = Commit(lock, std::move(batch));
    if (!st.ok()) return Fail(res, st);
    Reply(res, 200, {{"id", *id}});
  }));

  // Membership of a job, for its workers' elastic runtime: the generation
  // changes whenever the worker set does. With `after=G` the call waits (up to
  // `wait_ms`, default 10 s) until the generation exceeds G or the job ends;
  // with `ready=1` as well, also until every member not exited has posted
  // ready (so the senior rank knows when newcomers can join).
  h.Get(R"(/api/v1/jobs/(\d+)/members)", api("/api/v1/jobs/{id}/members", job_readers,
                                              [this, visible_job, no_such_job](const Principal& who,
                                                                               const httplib::Request& req,
                                                                               httplib::Response& res) {
    std::optional<int64_t> after = IntParam(req, "after");
    int64_t wait_ms = std::clamp<int64_t>(IntParam(req, "wait_ms").value_or(10000), 0, 60000);
    bool ready = req.get_param_value("ready") == "1" || req.get_param_value("ready") == "true";
    auto all_ready = [](const Job& j) {
      return std::all_of(j.workers.begin(), j.workers.end(), [&](const store::WorkerRecord& w) {
        const WorkerContact* c = j.Contact(w);
        return w.state == "exited" || (c && c->ready);
      });
    };
    std::unique_lock<std::mutex> lock(mu_);
    if (!visible_job(who, req)) return Fail(res, no_such_job(req));
    if (after) {
      changed_.wait_for(lock, std::chrono::milliseconds(wait_ms), [&] {
        const Job* j = visible_job(who, req);
        return stopping_ || !j || IsTerminal(j->rec.state) ||
               (j->rec.generation > *after && (!ready || all_ready(*j)));
      });
    }
    const Job* j = visible_job(who, req);
    if (!j) return Fail(res, no_such_job(req));
    json members = json::array();
    for (const auto& w : j->workers) {
      auto host = model_.hosts().find(w.host);
      const WorkerContact* c = j->Contact(w);
      members.push_back({{"rank", w.rank}, {"host", w.host}, {"generation", w.generation}, {"state", w.state},
                         {"address", host != model_.hosts().end() ? host->second.address : ""},
                         {"ready", c && c->ready}});
    }
    Reply(res, 200, {{"job", j->rec.id}, {"state", j->rec.state}, {"generation", j->rec.generation},
                     {"members", members}});
  }));

  // A worker's status post: its heartbeat, whether it is ready (has joined
  // the membership and holds the training state), the job's progress, and the
  // pause a resize cost. Kept in memory only.
  h.Post(R"(/api/v1/jobs/(\d+)/workers/(\d+)/status)",
         api("/api/v1/jobs/{id}/workers/{rank}/status", {Role::kAdmin, Role::kWorker},
             [this, visible_job, no_such_job](const Principal& who, const httplib::Request& req,
                                              httplib::Response& res) {
    Result<WorkerStatus> status = DecodeWorkerStatus(req.body);
    if (!status.ok()) return Fail(res, status.status());
    std::string rank_text = req.matches[2];
    std::unique_lock<std::mutex> lock(mu_);
    const Job* j = visible_job(who, req);
    if (!j) return Fail(res, no_such_job(req));
    int rank = rank_text.size() > 9 ? -1 : std::stoi(rank_text);
    Result<int64_t> generation = model_.ReportWorkerStatus(j->rec.id, rank, *status, Now());
    if (!generation.ok()) {
      return Fail(res, NotFound("worker " + rank_text + " of job " + req.matches[1].str() + " is not a member"));
    }
    if (status->regroup) {
      store::WriteBatch batch;
      generation = model_.Regroup(j->rec.id, status->generation, "worker " + rank_text, Now(), &batch);
      if (!generation.ok()) return Fail(res, generation.status());
      Status st = Commit(lock, std::move(batch));  // unlocks
      if (!st.ok()) return Fail(res, st);
      changed_.notify_all();
      return Reply(res, 200, {{"generation", *generation}});
    }
    changed_.notify_all();  // waiting membership reads look at readiness again
    lock.unlock();
    Reply(res, 200, {{"generation", *generation}});
  }));

  // -- each job's key-value store: the workers' c10d rendezvous ---------------
  // In memory only (see JobKvStore). Reads may wait for a key; they wait on
  // kv_mu_/kv_changed_, never holding mu_.
  //
  // The job's store incarnation (its restart count) if `who` may use its
  // store: not found if invisible, a failed precondition once the job ended.
  auto kv_job = [this, visible_job, no_such_job](const Principal& who,
                                                 const httplib::Request& req) -> Result<std::pair<JobId, int64_t>> {
    std::lock_guard<std::mutex> lock(mu_);
    const Job* j = visible_job(who, req);
    if (!j) return no_such_job(req);
    if (IsTerminal(j->rec.state)) return FailedPrecondition("job " + std::to_string(j->rec.id) + " has ended");
    return std::pair<JobId, int64_t>{j->rec.id, j->rec.restarts};
  };
  // Wraps a key-value handler: authentication, the job's checks, the key.
  auto kv_api = [api, job_readers, kv_job](const std::string& route,
                                           std::function<void(JobId, int64_t, const std::string&,
                                                              const httplib::Request&, httplib::Response&)> fn) {
    return api(route, job_readers, [kv_job, fn](const Principal& who, const httplib::Request& req,
                                                httplib::Response& res) {
      Result<std::pair<JobId, int64_t>> job = kv_job(who, req);
      if (!job.ok()) return Fail(res, job.status());
      fn(job->first, job->second, req.matches.size() > 2 ? req.matches[2].str() : "", req, res);
    });
  };

  h.Put(R"(/api/v1/jobs/(\d+)/kv/(.+))", kv_api("/api/v1/jobs/{id}/kv/{key}", [this](JobId id, int64_t inc,
                                                                                       const std::string& key,
                                                                                       const httplib::Request& req,
                                                                                       httplib::Response& res) {
    {
      std::lock_guard<std::mutex> lock(kv_mu_);
      Status st = kv_.Set(id, inc, key, req.body);
      if (!st.ok()) return Fail(res, st);
    }
    kv_changed_.notify_all();
    Reply(res, 200, {{"key", key}});
  }));

  h.Get(R"(/api/v1/jobs/(\d+)/kv/(.+))", kv_api("/api/v1/jobs/{id}/kv/{key}", [this](JobId id, int64_t inc,
                                                                                       const std::string& key,
                                                                                       const httplib::Request& req,
                                                                                       httplib::Response& res) {
    int64_t wait_ms = std::clamp<int64_t>(IntParam(req, "wait_ms").value_or(0), 0, 60000);
    std::optional<std::string> value;
    {
      std::unique_lock<std::mutex> lock(kv_mu_);
      kv_changed_.wait_for(lock, std::chrono::milliseconds(wait_ms), [&] {
        value = kv_.Get(id, inc, key);
        return kv_stopping_ || value.has_value();
      });
    }
    if (!value) return Fail(res, NotFound("key " + key + " is not set in job " + std::to_string(id) + "'s store"));
    res.status = 200;
    res.set_content(std::move(*value), "application/octet-stream");
  }));

  h.Post(R"(/api/v1/jobs/(\d+)/kv/(.+))", kv_api("/api/v1/jobs/{id}/kv/{key}", [this](JobId id, int64_t inc,
                                                                                        const std::string& key,
                                                                                        const httplib::Request& req,
                                                                                        httplib::Response& res) {
    std::optional<int64_t> add = IntParam(req, "add");
    if (!add) return Fail(res, InvalidArgument("add: expected an integer, e.g. ?add=1"));
    std::unique_lock<std::mutex> lock(kv_mu_);
    Result<int64_t> value = kv_.Add(id, inc, key, *add);
    lock.unlock();
    if (!value.ok()) return Fail(res, value.status());
    kv_changed_.notify_all();
    Reply(res, 200, {{"value", *value}});
  }));

  h.Delete(R"(/api/v1/jobs/(\d+)/kv/(.+))", kv_api("/api/v1/jobs/{id}/kv/{key}", [this](JobId id, int64_t inc,
                                                                                          const std::string& key,
                                                                                          const httplib::Request&,
                                                                                          httplib::Response& res) {
    std::lock_guard<std::mutex> lock(kv_mu_);
    bool deleted = kv_.Erase(id, inc, key);
    Reply(res, 200, {{"deleted", deleted}});
  }));

  h.Get(R"(/api/v1/jobs/(\d+)/kv)", kv_api("/api/v1/jobs/{id}/kv", [this](JobId id, int64_t inc, const std::string&,
                                                                           const httplib::Request&,
                                                                           httplib::Response& res) {
    std::lock_guard<std::mutex> lock(kv_mu_);
    size_t keys = kv_.Count(id, inc);
    Reply(res, 200, {{"keys", keys}});
  }));

  h.Get(R"(/api/v1/jobs/(\d+)/logs)", api("/api/v1/jobs/{id}/logs", job_readers,
                                           [this, job_id, visible_job, no_such_job](const Principal& who,
                                                                                    const httplib::Request& req,
                                                                                    httplib::Response& res) {
    auto id = job_id(req);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!visible_job(who, req)) return Fail(res, no_such_job(req));
    }
    int rank = static_cast<int>(IntParam(req, "worker").value_or(0));
    int64_t tail = IntParam(req, "tail").value_or(-1);
    bool follow = req.get_param_value("follow") == "1" || req.get_param_value("follow") == "true";
    fs::path file = fs::path(opt_.data_dir) / "logs" / std::to_string(*id) / (std::to_string(rank) + ".log");
    auto offset = std::make_shared<uint64_t>(0);
    if (tail >= 0 && fs::exists(file)) {
      // Start at the beginning of the last `tail` lines.
      std::ifstream in(file, std::ios::binary);
      std::string all((std::istreambuf_iterator<char>(in)), {});
      size_t pos = all.size();
      for (int64_t n = 0; n <= tail && pos > 0;) {
        pos = all.rfind('\n', pos - 1);
        if (pos == std::string::npos) {
          pos = 0;
          break;
        }
        if (++n > tail) {
          ++pos;
          break;
        }
      }
      *offset = pos;
    }
    JobId jid = *id;
    res.set_chunked_content_provider("text/plain", [this, file, offset, follow, jid](size_t, httplib::DataSink& sink) {
      for (int idle = 0; idle < 50; ++idle) {  // bounded wait per call: 50 x 100 ms
        std::string chunk;
        {
          std::lock_guard<std::mutex> lock(log_mu_);
          std::ifstream in(file, std::ios::binary);
          if (in) {
            in.seekg(static_cast<std::streamoff>(*offset));
            chunk.assign(std::istreambuf_iterator<char>(in), {});
          }
        }
        if (!chunk.empty()) {
          *offset += chunk.size();
          return sink.write(chunk.data(), chunk.size());
        }
        bool ended;
        {
          std::lock_guard<std::mutex> lock(mu_);
          const Job* j = model_.FindJob(jid);
          ended = stopping_ || !j || IsTerminal(j->rec.state);
        }
        if (!follow || ended) {
          sink.done();
          return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      return true;  // nothing new yet: the library calls again
    });
  }));
}

}  // namespace drover::server

#include "store/sqlite_store.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string_view>
#include <utility>

#include "store/schema.h"

namespace drover::store {
namespace {

using Json = nlohmann::json;

constexpr int kBusyTimeoutMs = 5000;

struct StmtDeleter {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using Stmt = std::unique_ptr<sqlite3_stmt, StmtDeleter>;

struct DbDeleter {
  void operator()(sqlite3* db) const { sqlite3_close(db); }
};
using Db = std::unique_ptr<sqlite3, DbDeleter>;

Result<Stmt> Prepare(sqlite3* db, std::string_view sql) {
  sqlite3_stmt* s = nullptr;
  int rc = sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()),
                              SQLITE_PREPARE_PERSISTENT, &s, nullptr);
  if (rc != SQLITE_OK) return SqliteStatus(db, rc, "preparing " + std::string(sql));
  return Stmt(s);
}

// Binds positional parameters 1, 2, ... in order. Text is bound without a
// copy: the bound strings must outlive the statement's next step.
class Binder {
 public:
  explicit Binder(sqlite3_stmt* s) : s_(s) {}
  Binder& Text(const std::string& v) {
    return Check(sqlite3_bind_text(s_, ++i_, v.data(), static_cast<int>(v.size()), SQLITE_STATIC));
  }
  //! A string with static storage (a state's Name()): bound without a copy, safely.
  Binder& Literal(const char* v) { return Check(sqlite3_bind_text(s_, ++i_, v, -1, SQLITE_STATIC)); }
  Binder& Int(int64_t v) { return Check(sqlite3_bind_int64(s_, ++i_, v)); }
  Binder& Id(JobId v) { return Int(static_cast<int64_t>(v)); }
  Binder& Real(double v) { return Check(sqlite3_bind_double(s_, ++i_, v)); }
  int rc() const { return rc_; }

 private:
  Binder& Check(int rc) {
    if (rc_ == SQLITE_OK) rc_ = rc;
    return *this;
  }
  sqlite3_stmt* s_;
  int i_ = 0;
  int rc_ = SQLITE_OK;
};

// Steps `s` to completion of one row or DONE and resets it. `context` builds
// the error's context only on failure, keeping the success path free of it.
template <typename Context>
Status Step(sqlite3* db, sqlite3_stmt* s, int bind_rc, Context&& context) {
  int rc = bind_rc == SQLITE_OK ? sqlite3_step(s) : bind_rc;
  if (rc == SQLITE_DONE || rc == SQLITE_ROW) {
    sqlite3_reset(s);
    return Status::Ok();
  }
  Status st = SqliteStatus(db, rc, context());
  sqlite3_reset(s);
  return st;
}

// A batch refused unapplied because `first`, queued before it, failed: one
// message whether the two met in one group or the store was already halted.
Status HaltedBy(const Status& first) {
  return Unavailable("not committed: a change queued before it failed (" + first.message() +
                     "); the store is halted until Resume()");
}

std::string ColText(sqlite3_stmt* s, int i) {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s, i));
  return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(s, i))) : std::string();
}

std::string UpsertSql(std::string_view table, const std::vector<std::string_view>& cols,
                      const std::string& key) {
  std::string sql = "INSERT INTO " + std::string(table) + " (";
  std::string values;
  std::string updates;
  for (size_t i = 0; i < cols.size(); ++i) {
    sql += (i ? ", " : "") + std::string(cols[i]);
    values += i ? ", ?" : "?";
    updates += (updates.empty() ? "" : ", ") + std::string(cols[i]) + " = excluded." +
               std::string(cols[i]);
  }
  return sql + ") VALUES (" + values + ") ON CONFLICT (" + key + ") DO UPDATE SET " + updates;
}

const std::vector<std::string_view> kJobCols = {
    "id",          "name",        "consumer",     "user",       "priority",
    "workers_min", "workers_max", "gpus",         "cpu_millis", "memory_mib",
    "argv_json",   "env_json",    "max_restarts", "restarts",   "state",
    "reason",      "submit_time", "start_time",   "end_time",   "attained_service",
    "generation",  "spec_yaml",   "failures",     "last_failure", "failed_rank",
    "rescales_json", "progress_json", "master_port"};
const std::vector<std::string_view> kHostCols = {"name",      "gpus",  "cpu_millis", "memory_mib", "gpus_json",
                                                 "state",     "registered", "last_seen", "cordoned"};
const std::vector<std::string_view> kWorkerCols = {"job",        "rank", "host",  "gpus_json",
                                                   "generation", "pid",  "state", "exit_code"};
const std::vector<std::string_view> kUserCols = {"name", "role", "consumers_json"};
const std::vector<std::string_view> kTokenCols = {"sha256", "kind", "user", "job", "created"};
const std::vector<std::string_view> kExperimentCols = {"id",     "name",   "consumer", "user",  "spec_yaml",
                                                       "state",  "reason", "created",  "ended", "trials_json"};
const std::vector<std::string_view> kMetricCols = {"job", "seq", "time", "values_json", "log_end"};
const std::vector<std::string_view> kDeploymentCols = {"name",  "owner",  "consumer", "spec_yaml",  "state",
                                                       "reason", "job",   "created",  "events_json"};

std::string SelectSql(std::string_view table, const std::vector<std::string_view>& cols,
                      std::string_view order) {
  std::string sql = "SELECT ";
  for (size_t i = 0; i < cols.size(); ++i) sql += (i ? ", " : "") + std::string(cols[i]);
  return sql + " FROM " + std::string(table) + " ORDER BY " + std::string(order);
}

// Opens `path` with the settings both connections share.
Result<Db> OpenDb(const std::string& path, bool create) {
  sqlite3* raw = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
  int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  Db db(raw);
  if (rc != SQLITE_OK) return SqliteStatus(raw, rc, "opening " + path);
  sqlite3_extended_result_codes(db.get(), 1);
  sqlite3_busy_timeout(db.get(), kBusyTimeoutMs);
  return db;
}

// A batch's vectors and maps as JSON text, in its records' order.
template <typename T>
void Put(Json& j, const char* key, const std::optional<T>& v) {
  if (v) j[key] = *v;
}
template <typename T>
void Take(const Json& j, const char* key, std::optional<T>* v) {
  if (j.contains(key) && !j[key].is_null()) *v = j[key].get<T>();
}

}  // namespace

// nlohmann's hooks for the records kept as JSON text (found by ADL).
void to_json(Json& j, const RescaleRecord& r) {
  j = Json{{"time", r.time}, {"from", r.from}, {"to", r.to}};
  Put(j, "pause_ms", r.pause_ms);
}
void from_json(const Json& j, RescaleRecord& r) {
  r.time = j.at("time").get<double>();
  r.from = j.at("from").get<int>();
  r.to = j.at("to").get<int>();
  Take(j, "pause_ms", &r.pause_ms);
}
void to_json(Json& j, const PerfPointRecord& p) {
  j = Json{{"nodes", p.nodes},   {"replicas", p.replicas},   {"local_batch", p.local_batch},
           {"step_s", p.step_s}, {"compute_s", p.compute_s}, {"count", p.count}};
}
void from_json(const Json& j, PerfPointRecord& p) {
  p.nodes = j.at("nodes").get<int>();
  p.replicas = j.at("replicas").get<int>();
  p.local_batch = j.at("local_batch").get<double>();
  p.step_s = j.at("step_s").get<double>();
  p.compute_s = j.at("compute_s").get<double>();
  p.count = j.at("count").get<int64_t>();
}
void to_json(Json& j, const PriorRecord& p) {
  j = Json{{"from_job", p.from_job}, {"a_grad", p.a_grad}, {"b_grad", p.b_grad}, {"a_local", p.a_local},
           {"b_local", p.b_local},   {"a_node", p.a_node}, {"b_node", p.b_node}, {"gamma", p.gamma}};
}
void from_json(const Json& j, PriorRecord& p) {
  p.from_job = j.at("from_job").get<JobId>();
  p.a_grad = j.at("a_grad").get<double>();
  p.b_grad = j.at("b_grad").get<double>();
  p.a_local = j.at("a_local").get<double>();
  p.b_local = j.at("b_local").get<double>();
  p.a_node = j.at("a_node").get<double>();
  p.b_node = j.at("b_node").get<double>();
  p.gamma = j.at("gamma").get<double>();
}
void to_json(Json& j, const ProfileRecord& p) {
  j = Json{{"init_batch", p.init_batch}, {"max_batch", p.max_batch}, {"points", p.points},
           {"grad_sqr", p.grad_sqr},     {"grad_var", p.grad_var}};
  if (p.noise_batch > 0) j["noise_batch"] = p.noise_batch;
  Put(j, "prior", p.prior);
}
void from_json(const Json& j, ProfileRecord& p) {
  p.init_batch = j.at("init_batch").get<double>();
  p.max_batch = j.value("max_batch", 0.0);
  p.points = j.at("points").get<std::vector<PerfPointRecord>>();
  p.grad_sqr = j.at("grad_sqr").get<double>();
  p.grad_var = j.at("grad_var").get<double>();
  p.noise_batch = j.value("noise_batch", 0.0);
  Take(j, "prior", &p.prior);
}
void to_json(Json& j, const ProgressRecord& p) {
  j = Json::object();
  Put(j, "profile", p.profile);
  Put(j, "step", p.step);
  Put(j, "epoch", p.epoch);
  Put(j, "loss", p.loss);
  Put(j, "samples_per_s", p.samples_per_s);
  Put(j, "samples_left", p.samples_left);
  Put(j, "world_size", p.world_size);
}
void from_json(const Json& j, ProgressRecord& p) {
  Take(j, "step", &p.step);
  Take(j, "epoch", &p.epoch);
  Take(j, "loss", &p.loss);
  Take(j, "samples_per_s", &p.samples_per_s);
  Take(j, "samples_left", &p.samples_left);
  Take(j, "world_size", &p.world_size);
  Take(j, "profile", &p.profile);
}

void to_json(Json& j, const TrialRecord& t) {
  j = Json{{"index", t.index}, {"job", t.job},     {"config", t.config},
           {"bracket", t.bracket}, {"state", t.state}, {"reason", t.reason}, {"rung", t.rung}};
}
void from_json(const Json& j, TrialRecord& t) {
  t.index = j.at("index").get<int>();
  t.job = j.at("job").get<JobId>();
  t.config = j.at("config").get<std::vector<double>>();
  t.bracket = j.at("bracket").get<int>();
  t.state = j.at("state").get<std::string>();
  t.reason = j.at("reason").get<std::string>();
  t.rung = j.value("rung", -1);
}

void to_json(Json& j, const ScaleEventRecord& e) {
  j = Json{{"time", e.time}, {"from", e.from}, {"to", e.to}, {"reason", e.reason}};
}
void from_json(const Json& j, ScaleEventRecord& e) {
  e.time = j.at("time").get<double>();
  e.from = j.at("from").get<int>();
  e.to = j.at("to").get<int>();
  e.reason = j.at("reason").get<std::string>();
}

namespace {

struct EncodedJson {
  std::vector<std::string> argv;       //!< per job
  std::vector<std::string> env;        //!< per job
  std::vector<std::string> rescales;   //!< per job
  std::vector<std::string> progress;   //!< per job
  std::vector<std::string> gpus;       //!< per worker
  std::vector<std::string> consumers;  //!< per user
  std::vector<std::string> trials;     //!< per experiment
  std::vector<std::string> events;     //!< per deployment
  std::vector<std::string> samples;    //!< per sample
};

// nlohmann::json refuses (throws on) strings that are not valid UTF-8.
Status Encode(const WriteBatch& b, EncodedJson& out) {
  std::string field;
  try {
    for (size_t i = 0; i < b.jobs.size(); ++i) {
      field = "jobs[" + std::to_string(i) + "].argv";
      out.argv.push_back(Json(b.jobs[i].argv).dump());
      field = "jobs[" + std::to_string(i) + "].env";
      out.env.push_back(Json(b.jobs[i].env).dump());
      out.rescales.push_back(Json(b.jobs[i].rescales).dump());
      out.progress.push_back(Json(b.jobs[i].progress).dump());
    }
    for (const WorkerRecord& w : b.workers) out.gpus.push_back(Json(w.gpus).dump());
    for (size_t i = 0; i < b.users.size(); ++i) {
      field = "users[" + std::to_string(i) + "].consumers";
      out.consumers.push_back(Json(b.users[i].consumers).dump());
    }
    for (size_t i = 0; i < b.experiments.size(); ++i) {
      field = "experiments[" + std::to_string(i) + "].trials";
      out.trials.push_back(Json(b.experiments[i].trials).dump());
    }
    for (size_t i = 0; i < b.deployments.size(); ++i) {
      field = "deployments[" + std::to_string(i) + "].events";
      out.events.push_back(Json(b.deployments[i].events).dump());
    }
    for (size_t i = 0; i < b.samples.size(); ++i) {
      field = "samples[" + std::to_string(i) + "].values";
      out.samples.push_back(Json(b.samples[i].values).dump());
    }
  } catch (const Json::exception& e) {
    return InvalidArgument(field + ": " + e.what());
  }
  return Status::Ok();
}

}  // namespace

// A batch on its way through the queue, encoded by its caller, who owns it
// and waits until `done`.
struct SqliteStore::Pending {
  const WriteBatch* batch = nullptr;
  EncodedJson json;
  Status status;
  bool done = false;
  // Set for ApplyAsync: the Pending owns its batch, and the committer fulfils
  // the promise and deletes it.
  std::unique_ptr<WriteBatch> owned;
  std::unique_ptr<std::promise<Status>> promise;
};

// The write connection and its statements; used by one thread at a time.
class SqliteStore::Writer {
 public:
  static Result<std::unique_ptr<Writer>> Open(Db db) {
    auto w = std::unique_ptr<Writer>(new Writer(std::move(db)));
    DROVER_RETURN_IF_ERROR(w->PrepareAll());
    return w;
  }

  //! Applies `group` in order, in one transaction where it can; sets each
  //! batch's status.
  //! With `halt`, a failed batch fails every batch after it in the group,
  //! unapplied (they were built on it).
  void Commit(const std::vector<Pending*>& group, bool halt) {
    if (group.size() == 1) {
      group[0]->status = CommitAlone(*group[0]);
      return;
    }
    if (CommitTogether(group, halt)) return;
    const Pending* failed = nullptr;
    for (Pending* p : group) {
      p->status = failed ? Behind(*failed) : CommitAlone(*p);
      if (halt && !failed && !p->status.ok()) failed = p;
    }
  }

  //! The status of a batch not applied because `failed`, queued before it, failed.
  static Status Behind(const Pending& failed) { return HaltedBy(failed.status); }

 private:
  explicit Writer(Db db) : db_(std::move(db)) {}

  Status PrepareAll() {
    struct {
      Stmt* stmt;
      std::string sql;
    } all[] = {
        {&begin_, "BEGIN IMMEDIATE"},
        {&commit_, "COMMIT"},
        {&rollback_, "ROLLBACK"},
        {&savepoint_, "SAVEPOINT batch"},
        {&release_, "RELEASE batch"},
        {&rollback_to_, "ROLLBACK TO batch"},
        {&set_plan_,
         "INSERT INTO plan (id, yaml) VALUES (1, ?) "
         "ON CONFLICT (id) DO UPDATE SET yaml = excluded.yaml"},
        {&set_next_id_,
         "INSERT INTO meta (key, value) VALUES ('next_job_id', ?) "
         "ON CONFLICT (key) DO UPDATE SET value = excluded.value"},
        {&upsert_job_, UpsertSql("jobs", kJobCols, "id")},
        {&insert_event_, "INSERT INTO events (job, time, type, message) VALUES (?, ?, ?, ?)"},
        {&upsert_host_, UpsertSql("hosts", kHostCols, "name")},
        {&upsert_worker_, UpsertSql("workers", kWorkerCols, "job, rank")},
        {&delete_worker_, "DELETE FROM workers WHERE job = ? AND rank = ?"},
        {&upsert_user_, UpsertSql("users", kUserCols, "name")},
        {&upsert_token_, UpsertSql("tokens", kTokenCols, "sha256")},
        {&delete_token_, "DELETE FROM tokens WHERE sha256 = ?"},
        {&delete_user_, "DELETE FROM users WHERE name = ?"},
        {&clear_timers_, "DELETE FROM reclaim_timers"},
        {&insert_timer_, "INSERT INTO reclaim_timers (consumer, since) VALUES (?, ?)"},
        {&upsert_experiment_, UpsertSql("experiments", kExperimentCols, "id")},
        {&insert_metric_, UpsertSql("metrics", kMetricCols, "job, seq")},
        {&upsert_deployment_, UpsertSql("deployments", kDeploymentCols, "name")},
        {&prune_samples_, "DELETE FROM samples WHERE resolution = ? AND time < ?"},
        {&upsert_sample_,
         "INSERT INTO samples (series, resolution, time, values_json) VALUES (?, ?, ?, ?) "
         "ON CONFLICT (series, resolution, time) DO UPDATE SET values_json = excluded.values_json"},
    };
    for (auto& [stmt, sql] : all) {
      Result<Stmt> s = Prepare(db_.get(), sql);
      if (!s.ok()) return s.status();
      *stmt = std::move(s).value();
    }
    return Status::Ok();
  }

  Status Run(const Stmt& s) {
    return Step(db_.get(), s.get(), SQLITE_OK, [&] { return std::string(sqlite3_sql(s.get())); });
  }

  bool InTransaction() const { return sqlite3_get_autocommit(db_.get()) == 0; }

  void RollbackIfOpen() {
    if (InTransaction()) (void)Run(rollback_);
  }

  Status CommitAlone(const Pending& p) {
    Status st = Run(begin_);
    if (st.ok()) st = ApplyBatch(p);
    if (st.ok()) st = Run(commit_);
    if (!st.ok()) RollbackIfOpen();
    return st;
  }

  // One transaction, one savepoint per batch: a batch whose statements fail
  // is rolled back to its savepoint and fails alone. Returns false, having
  // rolled everything back, when the transaction itself failed: BEGIN or
  // COMMIT, or an error that made SQLite abort the whole transaction
  // (I/O, RAISE(ROLLBACK)), taking the group's earlier batches with it.
  bool CommitTogether(const std::vector<Pending*>& group, bool halt) {
    bool ok = Run(begin_).ok();
    const Pending* failed = nullptr;
    for (size_t i = 0; ok && i < group.size(); ++i) {
      Pending* p = group[i];
      if (failed) {
        p->status = Behind(*failed);
        continue;
      }
      ok = Run(savepoint_).ok();
      if (!ok) break;
      p->status = ApplyBatch(*p);
      ok = p->status.ok() ? Run(release_).ok()
                          : InTransaction() && Run(rollback_to_).ok() && Run(release_).ok();
      if (halt && !p->status.ok()) failed = p;
    }
    if (ok && Run(commit_).ok()) return true;
    RollbackIfOpen();
    return false;
  }

  Status ApplyBatch(const Pending& p) {
    sqlite3* db = db_.get();
    const WriteBatch& b = *p.batch;
    if (b.plan_yaml) {
      DROVER_RETURN_IF_ERROR(Step(db, set_plan_.get(),
                                  Binder(set_plan_.get()).Text(*b.plan_yaml).rc(),
                                  [] { return std::string("plan_yaml"); }));
    }
    if (b.next_job_id) {
      DROVER_RETURN_IF_ERROR(Step(db, set_next_id_.get(),
                                  Binder(set_next_id_.get()).Id(*b.next_job_id).rc(),
                                  [] { return std::string("next_job_id"); }));
    }
    if (b.reclaim_timers) {
      DROVER_RETURN_IF_ERROR(Step(db, clear_timers_.get(), SQLITE_OK, [] { return std::string("reclaim_timers"); }));
      for (const auto& [consumer, since] : *b.reclaim_timers) {
        sqlite3_stmt* s = insert_timer_.get();
        DROVER_RETURN_IF_ERROR(Step(db, s, Binder(s).Text(consumer).Real(since).rc(),
                                    [&] { return "reclaim_timers[" + consumer + "]"; }));
      }
    }
    for (size_t i = 0; i < b.removed_workers.size(); ++i) {
      const auto& [job, rank] = b.removed_workers[i];
      sqlite3_stmt* s = delete_worker_.get();
      DROVER_RETURN_IF_ERROR(Step(db, s, Binder(s).Id(job).Int(rank).rc(), [&] {
        return "removed_workers[" + std::to_string(i) + "] (job " + std::to_string(job) +
               ", rank " + std::to_string(rank) + ")";
      }));
    }
    for (size_t i = 0; i < b.revoked_tokens.size(); ++i) {
      sqlite3_stmt* s = delete_token_.get();
      DROVER_RETURN_IF_ERROR(Step(db, s, Binder(s).Text(b.revoked_tokens[i]).rc(),
                                  [&] { return "revoked_tokens[" + std::to_string(i) + "]"; }));
    }
    for (size_t i = 0; i < b.removed_users.size(); ++i) {
      sqlite3_stmt* s = delete_user_.get();
      DROVER_RETURN_IF_ERROR(Step(db, s, Binder(s).Text(b.removed_users[i]).rc(),
                                  [&] { return "removed_users[" + std::to_string(i) + "]"; }));
    }
    for (size_t i = 0; i < b.jobs.size(); ++i) {
      const JobRecord& j = b.jobs[i];
      sqlite3_stmt* s = upsert_job_.get();
      int rc = Binder(s)
                   .Id(j.id)
                   .Text(j.name)
                   .Text(j.consumer)
                   .Text(j.user)
                   .Int(j.priority)
                   .Int(j.workers.min)
                   .Int(j.workers.max)
                   .Int(j.per_worker.gpus)
                   .Int(j.per_worker.cpu_millis)
                   .Int(j.per_worker.memory_mib)
                   .Text(p.json.argv[i])
                   .Text(p.json.env[i])
                   .Int(j.max_restarts)
                   .Int(j.restarts)
                   .Literal(api::Name(j.state))
                   .Text(j.reason)
                   .Real(j.submit_time)
                   .Real(j.start_time)
                   .Real(j.end_time)
                   .Real(j.attained_service)
                   .Int(j.generation)
                   .Text(j.spec_yaml)
                   .Int(j.failures)
                   .Real(j.last_failure)
                   .Int(j.failed_rank)
                   .Text(p.json.rescales[i])
                   .Text(p.json.progress[i])
                   .Int(j.master_port)
                   .rc();
      DROVER_RETURN_IF_ERROR(Step(db, s, rc, [&] {
        return "jobs[" + std::to_string(i) + "] (id " + std::to_string(j.id) + ")";
      }));
    }
    for (size_t i = 0; i < b.events.size(); ++i) {
      const EventRecord& e = b.events[i];
      sqlite3_stmt* s = insert_event_.get();
      int rc = Binder(s).Id(e.job).Real(e.time).Text(e.type).Text(e.message).rc();
      DROVER_RETURN_IF_ERROR(Step(db, s, rc, [&] {
        return "events[" + std::to_string(i) + "] (job " + std::to_string(e.job) + ")";
      }));
    }
    for (size_t i = 0; i < b.hosts.size(); ++i) {
      const HostRecord& h = b.hosts[i];
      sqlite3_stmt* s = upsert_host_.get();
      int rc = Binder(s)
                   .Text(h.name)
                   .Int(h.capacity.gpus)
                   .Int(h.capacity.cpu_millis)
                   .Int(h.capacity.memory_mib)
                   .Text(h.gpus_json)
                   .Text(h.state)
                   .Real(h.registered)
                   .Real(h.last_seen)
                   .Int(h.cordoned ? 1 : 0)
                   .rc();
      DROVER_RETURN_IF_ERROR(
          Step(db, s, rc, [&] { return "hosts[" + std::to_string(i) + "] (" + h.name + ")"; }));
    }
    for (size_t i = 0; i < b.workers.size(); ++i) {
      const WorkerRecord& w = b.workers[i];
      sqlite3_stmt* s = upsert_worker_.get();
      int rc = Binder(s)
                   .Id(w.job)
                   .Int(w.rank)
                   .Text(w.host)
                   .Text(p.json.gpus[i])
                   .Int(w.generation)
                   .Int(w.pid)
                   .Literal(api::Name(w.state))
                   .Int(w.exit_code)
                   .rc();
      DROVER_RETURN_IF_ERROR(Step(db, s, rc, [&] {
        return "workers[" + std::to_string(i) + "] (job " + std::to_string(w.job) + ", rank " +
               std::to_string(w.rank) + ")";
      }));
    }
    for (size_t i = 0; i < b.users.size(); ++i) {
      const UserRecord& u = b.users[i];
      sqlite3_stmt* s = upsert_user_.get();
      int rc = Binder(s).Text(u.name).Text(u.role).Text(p.json.consumers[i]).rc();
      DROVER_RETURN_IF_ERROR(
          Step(db, s, rc, [&] { return "users[" + std::to_string(i) + "] (" + u.name + ")"; }));
    }
    for (size_t i = 0; i < b.tokens.size(); ++i) {
      const TokenRecord& t = b.tokens[i];
      sqlite3_stmt* s = upsert_token_.get();
      int rc = Binder(s).Text(t.sha256).Text(t.kind).Text(t.user).Id(t.job).Real(t.created).rc();
      DROVER_RETURN_IF_ERROR(Step(db, s, rc, [&] { return "tokens[" + std::to_string(i) + "]"; }));
    }
    for (size_t i = 0; i < b.experiments.size(); ++i) {
      const ExperimentRecord& e = b.experiments[i];
      sqlite3_stmt* s = upsert_experiment_.get();
      int rc = Binder(s)
                   .Int(e.id)
                   .Text(e.name)
                   .Text(e.consumer)
                   .Text(e.user)
                   .Text(e.spec_yaml)
                   .Text(e.state)
                   .Text(e.reason)
                   .Real(e.created)
                   .Real(e.ended)
                   .Text(p.json.trials[i])
                   .rc();
      DROVER_RETURN_IF_ERROR(Step(db, s, rc, [&] {
        return "experiments[" + std::to_string(i) + "] (id " + std::to_string(e.id) + ")";
      }));
    }
    for (size_t i = 0; i < b.metrics.size(); ++i) {
      const MetricRecord& m = b.metrics[i];
      sqlite3_stmt* s = insert_metric_.get();
      int rc = Binder(s).Id(m.job).Int(m.seq).Real(m.time).Text(m.values_json).Int(m.log_end).rc();
      DROVER_RETURN_IF_ERROR(Step(db, s, rc, [&] {
        return "metrics[" + std::to_string(i) + "] (job " + std::to_string(m.job) + ")";
      }));
    }
    for (size_t i = 0; i < b.deployments.size(); ++i) {
      const DeploymentRecord& d = b.deployments[i];
      sqlite3_stmt* s = upsert_deployment_.get();
      int rc = Binder(s)
                   .Text(d.name)
                   .Text(d.owner)
                   .Text(d.consumer)
                   .Text(d.spec_yaml)
                   .Text(d.state)
                   .Text(d.reason)
                   .Id(d.job)
                   .Real(d.created)
                   .Text(p.json.events[i])
                   .rc();
      DROVER_RETURN_IF_ERROR(Step(db, s, rc, [&] { return "deployments[" + std::to_string(i) + "] (" + d.name + ")"; }));
    }
    for (size_t i = 0; i < b.pruned_samples.size(); ++i) {
      sqlite3_stmt* s = prune_samples_.get();
      int rc = Binder(s).Real(b.pruned_samples[i].resolution).Real(b.pruned_samples[i].before).rc();
      DROVER_RETURN_IF_ERROR(Step(db, s, rc, [&] { return "pruned_samples[" + std::to_string(i) + "]"; }));
    }
    for (size_t i = 0; i < b.samples.size(); ++i) {
      const SampleRecord& r = b.samples[i];
      sqlite3_stmt* s = upsert_sample_.get();
      int rc = Binder(s).Text(r.series).Real(r.resolution).Real(r.time).Text(p.json.samples[i]).rc();
      DROVER_RETURN_IF_ERROR(Step(db, s, rc, [&] { return "samples[" + std::to_string(i) + "] (" + r.series + ")"; }));
    }
    return Status::Ok();
  }

  Db db_;  // declared first: destroyed after the statements below
  Stmt begin_, commit_, rollback_, savepoint_, release_, rollback_to_;
  Stmt set_plan_, set_next_id_, upsert_job_, insert_event_, upsert_host_, upsert_worker_,
      delete_worker_, upsert_user_, upsert_token_, delete_token_, delete_user_, clear_timers_, insert_timer_,
      upsert_experiment_, insert_metric_, upsert_deployment_, prune_samples_, upsert_sample_;
};

namespace {

// Steps `s` through its rows, calling `row(s)` for each; resets it.
template <typename Row>
Status ForEachRow(sqlite3* db, sqlite3_stmt* s, Row&& row) {
  Status st;
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    st = row(s);
    if (!st.ok()) break;
  }
  if (st.ok() && rc != SQLITE_DONE) st = SqliteStatus(db, rc, sqlite3_sql(s));
  sqlite3_reset(s);
  return st;
}

template <typename T>
Status FromJson(const std::string& text, T* out, const std::string& where) {
  try {
    *out = Json::parse(text).get<T>();
  } catch (const Json::exception& e) {
    return Internal("corrupt " + where + ": " + e.what());
  }
  return Status::Ok();
}

}  // namespace

// The read connection and its statements; callers serialize on read_mu_.
class SqliteStore::Reader {
 public:
  static Result<std::unique_ptr<Reader>> Open(Db db) {
    auto r = std::unique_ptr<Reader>(new Reader(std::move(db)));
    struct {
      Stmt* stmt;
      std::string sql;
    } all[] = {
        {&r->begin_, "BEGIN"},
        {&r->end_, "COMMIT"},
        {&r->plan_, "SELECT yaml FROM plan WHERE id = 1"},
        {&r->next_id_, "SELECT value FROM meta WHERE key = 'next_job_id'"},
        {&r->jobs_, SelectSql("jobs", kJobCols, "id")},
        {&r->hosts_, SelectSql("hosts", kHostCols, "name")},
        {&r->workers_, SelectSql("workers", kWorkerCols, "job, rank")},
        {&r->users_, SelectSql("users", kUserCols, "name")},
        {&r->tokens_, SelectSql("tokens", kTokenCols, "sha256")},
        {&r->timers_, "SELECT consumer, since FROM reclaim_timers ORDER BY consumer"},
        {&r->experiments_, SelectSql("experiments", kExperimentCols, "id")},
        {&r->metrics_, SelectSql("metrics", kMetricCols, "job, seq")},
        {&r->deployments_, SelectSql("deployments", kDeploymentCols, "name")},
        // Newest first, so LIMIT keeps the newest; id orders events of one time.
        {&r->events_,
         "SELECT job, time, type, message FROM events WHERE job = ? "
         "ORDER BY time DESC, id DESC LIMIT ?"},
        {&r->samples_,
         "SELECT series, resolution, time, values_json FROM samples "
         "WHERE series = ? AND resolution = ? AND time >= ? ORDER BY time DESC LIMIT ?"},
    };
    for (auto& [stmt, sql] : all) {
      Result<Stmt> s = Prepare(r->db_.get(), sql);
      if (!s.ok()) return s.status();
      *stmt = std::move(s).value();
    }
    return r;
  }

  Result<Snapshot> Load() {
    sqlite3* db = db_.get();
    Snapshot snap;
    Status st = Step(db, begin_.get(), SQLITE_OK, [] { return std::string("BEGIN"); });
    if (st.ok()) st = ReadAll(snap);
    // A read transaction: COMMIT only ends it.
    Status end = Step(db, end_.get(), SQLITE_OK, [] { return std::string("COMMIT"); });
    if (!st.ok()) return st;
    if (!end.ok()) return end;
    return snap;
  }

  Result<std::vector<EventRecord>> Events(JobId job, int limit) {
    std::vector<EventRecord> events;
    sqlite3_stmt* s = events_.get();
    int rc = Binder(s).Id(job).Int(limit).rc();
    if (rc != SQLITE_OK) return SqliteStatus(db_.get(), rc, "binding events query");
    Status st = ForEachRow(db_.get(), s, [&](sqlite3_stmt* row) {
      events.push_back({static_cast<JobId>(sqlite3_column_int64(row, 0)),
                        sqlite3_column_double(row, 1), ColText(row, 2), ColText(row, 3)});
      return Status::Ok();
    });
    if (!st.ok()) return st;
    std::reverse(events.begin(), events.end());
    return events;
  }

  Result<std::vector<SampleRecord>> Samples(const std::string& series, double resolution, double since, int limit) {
    std::vector<SampleRecord> out;
    sqlite3_stmt* s = samples_.get();
    int rc = Binder(s).Text(series).Real(resolution).Real(since).Int(limit).rc();
    if (rc != SQLITE_OK) return SqliteStatus(db_.get(), rc, "binding samples query");
    Status st = ForEachRow(db_.get(), s, [&](sqlite3_stmt* row) {
      SampleRecord r{ColText(row, 0), sqlite3_column_double(row, 2), sqlite3_column_double(row, 1), {}};
      DROVER_RETURN_IF_ERROR(FromJson(ColText(row, 3), &r.values, "samples of " + r.series));
      out.push_back(std::move(r));
      return Status::Ok();
    });
    if (!st.ok()) return st;
    std::reverse(out.begin(), out.end());
    return out;
  }

 private:
  explicit Reader(Db db) : db_(std::move(db)) {}

  Status ReadAll(Snapshot& snap) {
    sqlite3* db = db_.get();
    DROVER_RETURN_IF_ERROR(ForEachRow(db, plan_.get(), [&](sqlite3_stmt* r) {
      snap.plan_yaml = ColText(r, 0);
      return Status::Ok();
    }));
    DROVER_RETURN_IF_ERROR(ForEachRow(db, next_id_.get(), [&](sqlite3_stmt* r) {
      snap.next_job_id = static_cast<JobId>(sqlite3_column_int64(r, 0));
      return Status::Ok();
    }));
    DROVER_RETURN_IF_ERROR(ForEachRow(db, timers_.get(), [&](sqlite3_stmt* r) {
      snap.reclaim_timers[ColText(r, 0)] = sqlite3_column_double(r, 1);
      return Status::Ok();
    }));
    DROVER_RETURN_IF_ERROR(ForEachRow(db, jobs_.get(), [&](sqlite3_stmt* r) {
      JobRecord j;
      int c = 0;
      j.id = static_cast<JobId>(sqlite3_column_int64(r, c++));
      j.name = ColText(r, c++);
      j.consumer = ColText(r, c++);
      j.user = ColText(r, c++);
      j.priority = sqlite3_column_int(r, c++);
      j.workers.min = sqlite3_column_int(r, c++);
      j.workers.max = sqlite3_column_int(r, c++);
      j.per_worker.gpus = sqlite3_column_int64(r, c++);
      j.per_worker.cpu_millis = sqlite3_column_int64(r, c++);
      j.per_worker.memory_mib = sqlite3_column_int64(r, c++);
      std::string where = "jobs row " + std::to_string(j.id);
      DROVER_RETURN_IF_ERROR(FromJson(ColText(r, c++), &j.argv, where + " argv_json"));
      DROVER_RETURN_IF_ERROR(FromJson(ColText(r, c++), &j.env, where + " env_json"));
      j.max_restarts = sqlite3_column_int(r, c++);
      j.restarts = sqlite3_column_int(r, c++);
      std::optional<api::JobState> state = api::ParseJobState(ColText(r, c++));
      if (!state) return Internal("corrupt jobs row " + std::to_string(j.id) + ": unknown state");
      j.state = *state;
      j.reason = ColText(r, c++);
      j.submit_time = sqlite3_column_double(r, c++);
      j.start_time = sqlite3_column_double(r, c++);
      j.end_time = sqlite3_column_double(r, c++);
      j.attained_service = sqlite3_column_double(r, c++);
      j.generation = sqlite3_column_int64(r, c++);
      j.spec_yaml = ColText(r, c++);
      j.failures = sqlite3_column_int(r, c++);
      j.last_failure = sqlite3_column_double(r, c++);
      j.failed_rank = sqlite3_column_int(r, c++);
      DROVER_RETURN_IF_ERROR(FromJson(ColText(r, c++), &j.rescales, where + " rescales_json"));
      DROVER_RETURN_IF_ERROR(FromJson(ColText(r, c++), &j.progress, where + " progress_json"));
      j.master_port = sqlite3_column_int(r, c++);
      snap.jobs.push_back(std::move(j));
      return Status::Ok();
    }));
    DROVER_RETURN_IF_ERROR(ForEachRow(db, hosts_.get(), [&](sqlite3_stmt* r) {
      HostRecord h;
      h.name = ColText(r, 0);
      h.capacity = {sqlite3_column_int64(r, 1), sqlite3_column_int64(r, 2),
                    sqlite3_column_int64(r, 3)};
      h.gpus_json = ColText(r, 4);
      h.state = ColText(r, 5);
      h.registered = sqlite3_column_double(r, 6);
      h.last_seen = sqlite3_column_double(r, 7);
      h.cordoned = sqlite3_column_int(r, 8) != 0;
      snap.hosts.push_back(std::move(h));
      return Status::Ok();
    }));
    DROVER_RETURN_IF_ERROR(ForEachRow(db, workers_.get(), [&](sqlite3_stmt* r) {
      WorkerRecord w;
      w.job = static_cast<JobId>(sqlite3_column_int64(r, 0));
      w.rank = sqlite3_column_int(r, 1);
      w.host = ColText(r, 2);
      DROVER_RETURN_IF_ERROR(FromJson(
          ColText(r, 3), &w.gpus,
          "workers row (" + std::to_string(w.job) + ", " + std::to_string(w.rank) + ") gpus_json"));
      w.generation = sqlite3_column_int64(r, 4);
      w.pid = sqlite3_column_int(r, 5);
      std::optional<api::WorkerState> wstate = api::ParseWorkerState(ColText(r, 6));
      if (!wstate) return Internal("corrupt workers row: unknown state " + ColText(r, 6));
      w.state = *wstate;
      w.exit_code = sqlite3_column_int(r, 7);
      snap.workers.push_back(std::move(w));
      return Status::Ok();
    }));
    DROVER_RETURN_IF_ERROR(ForEachRow(db, users_.get(), [&](sqlite3_stmt* r) {
      UserRecord u;
      u.name = ColText(r, 0);
      u.role = ColText(r, 1);
      DROVER_RETURN_IF_ERROR(
          FromJson(ColText(r, 2), &u.consumers, "users row " + u.name + " consumers_json"));
      snap.users.push_back(std::move(u));
      return Status::Ok();
    }));
    DROVER_RETURN_IF_ERROR(ForEachRow(db, experiments_.get(), [&](sqlite3_stmt* r) {
      ExperimentRecord e;
      e.id = sqlite3_column_int64(r, 0);
      e.name = ColText(r, 1);
      e.consumer = ColText(r, 2);
      e.user = ColText(r, 3);
      e.spec_yaml = ColText(r, 4);
      e.state = ColText(r, 5);
      e.reason = ColText(r, 6);
      e.created = sqlite3_column_double(r, 7);
      e.ended = sqlite3_column_double(r, 8);
      DROVER_RETURN_IF_ERROR(
          FromJson(ColText(r, 9), &e.trials, "experiments row " + std::to_string(e.id) + " trials_json"));
      snap.experiments.push_back(std::move(e));
      return Status::Ok();
    }));
    DROVER_RETURN_IF_ERROR(ForEachRow(db, metrics_.get(), [&](sqlite3_stmt* r) {
      snap.metrics.push_back({static_cast<JobId>(sqlite3_column_int64(r, 0)), sqlite3_column_int64(r, 1),
                              sqlite3_column_double(r, 2), ColText(r, 3), sqlite3_column_int64(r, 4)});
      return Status::Ok();
    }));
    DROVER_RETURN_IF_ERROR(ForEachRow(db, deployments_.get(), [&](sqlite3_stmt* r) {
      DeploymentRecord d;
      d.name = ColText(r, 0);
      d.owner = ColText(r, 1);
      d.consumer = ColText(r, 2);
      d.spec_yaml = ColText(r, 3);
      d.state = ColText(r, 4);
      d.reason = ColText(r, 5);
      d.job = static_cast<JobId>(sqlite3_column_int64(r, 6));
      d.created = sqlite3_column_double(r, 7);
      DROVER_RETURN_IF_ERROR(FromJson(ColText(r, 8), &d.events, "deployments row " + d.name + " events_json"));
      snap.deployments.push_back(std::move(d));
      return Status::Ok();
    }));
    return ForEachRow(db, tokens_.get(), [&](sqlite3_stmt* r) {
      TokenRecord t;
      t.sha256 = ColText(r, 0);
      t.kind = ColText(r, 1);
      t.user = ColText(r, 2);
      t.job = static_cast<JobId>(sqlite3_column_int64(r, 3));
      t.created = sqlite3_column_double(r, 4);
      snap.tokens.push_back(std::move(t));
      return Status::Ok();
    });
  }

  Db db_;  // declared first: destroyed after the statements below
  Stmt begin_, end_, plan_, next_id_, jobs_, hosts_, workers_, users_, tokens_, timers_, events_, samples_, experiments_,
      metrics_, deployments_;
};

namespace {

// SQLite's quick_check at open: a damaged database is reported with what to
// do, never used (or silently replaced).
Status QuickCheck(sqlite3* db) {
  Result<Stmt> s = Prepare(db, "PRAGMA quick_check(5)");
  if (!s.ok()) return Unavailable("the database cannot be checked: " + s.status().message());
  std::string problems;
  int rc;
  while ((rc = sqlite3_step(s->get())) == SQLITE_ROW) {
    std::string row = ColText(s->get(), 0);
    if (row != "ok") problems += (problems.empty() ? "" : "; ") + row;
  }
  if (rc != SQLITE_DONE) return SqliteStatus(db, rc, "checking the database");
  if (!problems.empty()) {
    return Unavailable("the database is damaged (" + problems + "); restore drover.db from a backup");
  }
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<SqliteStore>> SqliteStore::Open(const std::string& dir,
                                                       const SqliteStoreOptions& options) {
  namespace fs = std::filesystem;
  fs::path d = fs::path(dir).lexically_normal();
  if (d.empty()) return InvalidArgument("store directory is empty");
  if (!d.has_filename()) d = d.parent_path();  // a trailing slash
  std::error_code ec;
  if (d.has_parent_path()) fs::create_directories(d.parent_path(), ec);
  if (ec) return Unavailable("creating " + d.parent_path().string() + ": " + ec.message());
  if (::mkdir(d.c_str(), 0700) != 0 && errno != EEXIST) {
    return Unavailable("creating " + d.string() + ": " + std::strerror(errno));
  }
  if (!fs::is_directory(d, ec)) return FailedPrecondition(d.string() + " is not a directory");
  const std::string path = (d / "drover.db").string();

  Result<Db> wdb = OpenDb(path, /*create=*/true);
  if (!wdb.ok()) return wdb.status();
  sqlite3* db = wdb->get();
  {
    Result<Stmt> s = Prepare(db, "PRAGMA journal_mode = WAL");
    if (!s.ok()) return Status(s.status().code(), path + ": " + s.status().message());
    std::string mode;
    int rc = sqlite3_step(s->get());
    if (rc == SQLITE_ROW)
      mode = ColText(s->get(), 0);
    else if (rc != SQLITE_DONE)
      return SqliteStatus(db, rc, path + ": setting WAL mode");
    if (mode != "wal") {
      return Unavailable(path + ": cannot use WAL journal mode (SQLite kept '" + mode +
                         "'); is the directory on a local file system?");
    }
  }
  // FULL: WAL is synced at every commit, so Apply is durable on return.
  // Foreign keys keep workers pointing at stored jobs.
  Status st = Exec(db, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON");
  if (st.ok()) st = QuickCheck(db);
  if (st.ok()) st = Migrate(db, Migrations());
  if (!st.ok()) return Status(st.code(), path + ": " + st.message());
  Result<std::unique_ptr<Writer>> writer = Writer::Open(std::move(wdb).value());
  if (!writer.ok()) return writer.status();

  Result<Db> rdb = OpenDb(path, /*create=*/false);
  if (!rdb.ok()) return rdb.status();
  st = Exec(rdb->get(), "PRAGMA query_only = ON");
  if (!st.ok()) return Status(st.code(), path + ": " + st.message());
  Result<std::unique_ptr<Reader>> reader = Reader::Open(std::move(rdb).value());
  if (!reader.ok()) return reader.status();

  return std::unique_ptr<SqliteStore>(
      new SqliteStore(options, std::move(writer).value(), std::move(reader).value()));
}

SqliteStore::SqliteStore(const SqliteStoreOptions& options, std::unique_ptr<Writer> writer,
                         std::unique_ptr<Reader> reader)
    : options_(options), writer_(std::move(writer)), reader_(std::move(reader)) {
  committer_ = std::thread([this] { CommitLoop(); });
}

SqliteStore::~SqliteStore() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  work_cv_.notify_all();
  committer_.join();
}

Status SqliteStore::Apply(const WriteBatch& batch) {
  if (batch.empty()) return Status::Ok();
  Pending p;
  p.batch = &batch;
  DROVER_RETURN_IF_ERROR(Encode(batch, p.json));
  std::unique_lock lock(mu_);
  if (stopping_) return FailedPrecondition("store is closing");
  queue_.push_back(&p);
  work_cv_.notify_one();
  done_cv_.wait(lock, [&] { return p.done; });
  return p.status;
}

std::shared_future<Status> SqliteStore::ApplyAsync(WriteBatch batch) {
  auto ready = [](Status st) {
    std::promise<Status> p;
    p.set_value(std::move(st));
    return p.get_future().share();
  };
  if (batch.empty()) return ready(Status::Ok());
  auto p = std::make_unique<Pending>();
  p->owned = std::make_unique<WriteBatch>(std::move(batch));
  p->batch = p->owned.get();
  Status encoded = Encode(*p->batch, p->json);
  if (!encoded.ok()) return ready(encoded);
  p->promise = std::make_unique<std::promise<Status>>();
  std::shared_future<Status> done = p->promise->get_future().share();
  std::unique_lock lock(mu_);
  if (stopping_) return ready(FailedPrecondition("store is closing"));
  queue_.push_back(p.release());
  work_cv_.notify_one();
  return done;
}

void SqliteStore::CommitLoop() {
  std::vector<Pending*> group;
  std::unique_lock lock(mu_);
  for (;;) {
    work_cv_.wait(lock, [&] { return !queue_.empty() || stopping_; });
    if (queue_.empty()) return;  // stopping, and everything queued is committed
    size_t n = options_.group_commit ? queue_.size() : 1;
    group.assign(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
    queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
    in_flight_ = n;
    const Status halted = halted_;
    lock.unlock();
    if (halted.ok()) {
      writer_->Commit(group, options_.halt_after_failure);
    } else {
      for (Pending* p : group) {
        p->status = HaltedBy(halted);
      }
    }
    lock.lock();
    for (Pending* p : group) {
      if (options_.halt_after_failure && halted_.ok() && !p->status.ok()) halted_ = p->status;
    }
    for (Pending* p : group) {
      p->done = true;
      if (p->promise) {
        p->promise->set_value(p->status);
        delete p;
      }
    }
    in_flight_ = 0;
    done_cv_.notify_all();
  }
}

void SqliteStore::Resume() {
  std::lock_guard lock(mu_);
  halted_ = Status::Ok();
}

size_t SqliteStore::pending() const {
  std::lock_guard lock(mu_);
  return queue_.size() + in_flight_;
}

Result<Snapshot> SqliteStore::Load() {
  std::lock_guard lock(read_mu_);
  return reader_->Load();
}

Result<std::vector<EventRecord>> SqliteStore::Events(JobId job, int limit) {
  if (limit < 0) return InvalidArgument("events limit " + std::to_string(limit) + " is negative");
  if (limit == 0) return std::vector<EventRecord>{};
  std::lock_guard lock(read_mu_);
  return reader_->Events(job, limit);
}

Result<std::vector<SampleRecord>> SqliteStore::Samples(const std::string& series, double resolution, double since,
                                                      int limit) {
  if (limit < 0) return InvalidArgument("samples limit " + std::to_string(limit) + " is negative");
  if (limit == 0) return std::vector<SampleRecord>{};
  std::lock_guard lock(read_mu_);
  return reader_->Samples(series, resolution, since, limit);
}

Result<std::unique_ptr<Store>> OpenSqliteStore(const std::string& dir) {
  Result<std::unique_ptr<SqliteStore>> s = SqliteStore::Open(dir);
  if (!s.ok()) return s.status();
  return std::unique_ptr<Store>(std::move(s).value());
}

}  // namespace drover::store

#include "store/schema.h"

#include <sqlite3.h>

#include <cstdint>
#include <string>

namespace drover::store {
namespace {

// Version 1: every record type of store.h. Vectors and maps are JSON text;
// ids are SQLite's signed 64-bit integers (JobId round-trips through a cast).
constexpr const char* kV1 = R"sql(
CREATE TABLE plan (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  yaml TEXT NOT NULL
) STRICT;
CREATE TABLE meta (
  key TEXT PRIMARY KEY,
  value INTEGER NOT NULL
) STRICT;
CREATE TABLE jobs (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  consumer TEXT NOT NULL,
  user TEXT NOT NULL,
  priority INTEGER NOT NULL,
  workers_min INTEGER NOT NULL,
  workers_max INTEGER NOT NULL,
  gpus INTEGER NOT NULL,
  cpu_millis INTEGER NOT NULL,
  memory_mib INTEGER NOT NULL,
  argv_json TEXT NOT NULL,
  env_json TEXT NOT NULL,
  max_restarts INTEGER NOT NULL,
  restarts INTEGER NOT NULL,
  state TEXT NOT NULL,
  reason TEXT NOT NULL,
  submit_time REAL NOT NULL,
  start_time REAL NOT NULL,
  end_time REAL NOT NULL,
  attained_service REAL NOT NULL,
  generation INTEGER NOT NULL,
  spec_yaml TEXT NOT NULL
) STRICT;
CREATE TABLE events (
  id INTEGER PRIMARY KEY,
  job INTEGER NOT NULL,
  time REAL NOT NULL,
  type TEXT NOT NULL,
  message TEXT NOT NULL
) STRICT;
CREATE INDEX events_by_job_time ON events (job, time);
CREATE TABLE hosts (
  name TEXT PRIMARY KEY,
  gpus INTEGER NOT NULL,
  cpu_millis INTEGER NOT NULL,
  memory_mib INTEGER NOT NULL,
  gpus_json TEXT NOT NULL,
  state TEXT NOT NULL,
  registered REAL NOT NULL,
  last_seen REAL NOT NULL
) STRICT;
CREATE TABLE workers (
  job INTEGER NOT NULL REFERENCES jobs (id),
  rank INTEGER NOT NULL,
  host TEXT NOT NULL,
  gpus_json TEXT NOT NULL,
  generation INTEGER NOT NULL,
  pid INTEGER NOT NULL,
  state TEXT NOT NULL,
  exit_code INTEGER NOT NULL,
  PRIMARY KEY (job, rank)
) STRICT;
CREATE TABLE users (
  name TEXT PRIMARY KEY,
  role TEXT NOT NULL,
  consumers_json TEXT NOT NULL
) STRICT;
CREATE TABLE tokens (
  sha256 TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  user TEXT NOT NULL,
  job INTEGER NOT NULL,
  created REAL NOT NULL
) STRICT;
)sql";

// Version 2: a job's worker failures in a row, when the latest happened and
// which worker it was (the restart budget and backoff of elastic jobs); a
// host drained by an admin; a job's resize history and last progress (so
// `drover job` shows the same after a restart); the scheduler's reclaim
// timers (a consumer's grace period does not start over on a restart).
constexpr const char* kV2 = R"sql(
ALTER TABLE jobs ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN last_failure REAL NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN failed_rank INTEGER NOT NULL DEFAULT -1;
ALTER TABLE hosts ADD COLUMN cordoned INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN rescales_json TEXT NOT NULL DEFAULT '[]';
ALTER TABLE jobs ADD COLUMN progress_json TEXT NOT NULL DEFAULT '{}';
ALTER TABLE jobs ADD COLUMN master_port INTEGER NOT NULL DEFAULT 0;
CREATE TABLE reclaim_timers (
  consumer TEXT PRIMARY KEY,
  since REAL NOT NULL
) STRICT;
)sql";

// Version 3: hyperparameter-optimisation experiments (their trials as JSON:
// they change together and are few) and jobs' metric reports.
constexpr const char* kV3 = R"sql(
CREATE TABLE experiments (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  consumer TEXT NOT NULL,
  user TEXT NOT NULL,
  spec_yaml TEXT NOT NULL,
  state TEXT NOT NULL,
  reason TEXT NOT NULL,
  created REAL NOT NULL,
  ended REAL NOT NULL,
  trials_json TEXT NOT NULL
) STRICT;
CREATE TABLE metrics (
  job INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  time REAL NOT NULL,
  values_json TEXT NOT NULL,
  log_end INTEGER NOT NULL,
  PRIMARY KEY (job, seq)
) STRICT;
)sql";

// Version 4: inference deployments (their recent scaling events as JSON; the
// replicas are the workers of the deployment's job).
constexpr const char* kV4 = R"sql(
CREATE TABLE deployments (
  name TEXT PRIMARY KEY,
  owner TEXT NOT NULL,
  consumer TEXT NOT NULL,
  spec_yaml TEXT NOT NULL,
  state TEXT NOT NULL,
  reason TEXT NOT NULL,
  job INTEGER NOT NULL,
  created REAL NOT NULL,
  events_json TEXT NOT NULL
) STRICT;
)sql";

// Version 5: history for the console's charts, written by the server's
// sampler at two resolutions and pruned by age (server/history.h).
constexpr const char* kV5 = R"sql(
CREATE TABLE samples (
  series TEXT NOT NULL,
  resolution REAL NOT NULL,
  time REAL NOT NULL,
  values_json TEXT NOT NULL,
  PRIMARY KEY (series, resolution, time)
) STRICT;
CREATE INDEX samples_by_age ON samples (resolution, time);
)sql";

// The first column of the first row of `sql` (0 for NULL or no row).
Result<int64_t> QueryInt(sqlite3* db, const char* sql) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr);
  if (rc != SQLITE_OK) return SqliteStatus(db, rc, "reading schema_version");
  int64_t value = 0;
  rc = sqlite3_step(stmt);
  if (rc == SQLITE_ROW) {
    value = sqlite3_column_int64(stmt, 0);
    rc = SQLITE_DONE;
  }
  Status st = rc == SQLITE_DONE ? Status::Ok() : SqliteStatus(db, rc, "reading schema_version");
  sqlite3_finalize(stmt);
  if (!st.ok()) return st;
  return value;
}

Status SetVersion(sqlite3* db, int version) {
  return Exec(db,
              "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL) STRICT;"
              "DELETE FROM schema_version;"
              "INSERT INTO schema_version (version) VALUES (" +
                  std::to_string(version) + ");");
}

// One migration in its own transaction. Another process may have migrated
// since we looked, so the version is read again under the write lock.
Status ApplyOne(sqlite3* db, const Migration& m) {
  DROVER_RETURN_IF_ERROR(Exec(db, "BEGIN IMMEDIATE"));
  Status st = [&]() -> Status {
    Result<int> now = SchemaVersion(db);
    if (!now.ok()) return now.status();
    if (*now >= m.version) return Status::Ok();
    DROVER_RETURN_IF_ERROR(Exec(db, m.sql));
    DROVER_RETURN_IF_ERROR(SetVersion(db, m.version));
    return Exec(db, "COMMIT");
  }();
  if (!sqlite3_get_autocommit(db)) {
    // Nothing to keep: either the migration failed or it was already applied.
    (void)Exec(db, "ROLLBACK");
  }
  if (!st.ok()) {
    return Status(st.code(),
                  "migration to schema version " + std::to_string(m.version) + ": " + st.message());
  }
  return st;
}

}  // namespace

const std::vector<Migration>& Migrations() {
  static const std::vector<Migration> kMigrations = {
      {1, kV1},
      {2, kV2},
      {3, kV3},
      {4, kV4},
      {5, kV5},
  };
  return kMigrations;
}

int CurrentSchemaVersion() { return Migrations().back().version; }

Status Exec(sqlite3* db, std::string_view sql) {
  std::string text(sql);
  char* err = nullptr;
  int rc = sqlite3_exec(db, text.c_str(), nullptr, nullptr, &err);
  sqlite3_free(err);  // the same text as sqlite3_errmsg, which SqliteStatus reads
  if (rc != SQLITE_OK) return SqliteStatus(db, rc, "executing SQL");
  return Status::Ok();
}

Result<int> SchemaVersion(sqlite3* db) {
  Result<int64_t> exists = QueryInt(
      db, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'schema_version'");
  if (!exists.ok()) return exists.status();
  if (*exists == 0) return 0;
  Result<int64_t> version = QueryInt(db, "SELECT max(version) FROM schema_version");
  if (!version.ok()) return version.status();
  return static_cast<int>(*version);
}

Status Migrate(sqlite3* db, const std::vector<Migration>& migrations) {
  for (size_t i = 0; i < migrations.size(); ++i) {
    if (migrations[i].version <= (i == 0 ? 0 : migrations[i - 1].version)) {
      return InvalidArgument("migrations: version " + std::to_string(migrations[i].version) +
                             " at position " + std::to_string(i) +
                             " is not above the one before it");
    }
  }
  int target = migrations.empty() ? 0 : migrations.back().version;
  Result<int> version = SchemaVersion(db);
  if (!version.ok()) return version.status();
  if (*version > target) {
    return FailedPrecondition("database schema version " + std::to_string(*version) +
                              " is newer than this drover's " + std::to_string(target) +
                              "; it was written by a newer drover: run that version, or "
                              "point this one at another data directory");
  }
  for (const Migration& m : migrations) {
    if (m.version > *version) DROVER_RETURN_IF_ERROR(ApplyOne(db, m));
  }
  return Status::Ok();
}

Status SqliteStatus(sqlite3* db, int rc, std::string_view context) {
  std::string msg(context);
  msg += ": ";
  msg += db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  switch (rc & 0xff) {
    case SQLITE_CONSTRAINT:
    case SQLITE_MISMATCH:
    case SQLITE_TOOBIG:
    case SQLITE_RANGE:
      return InvalidArgument(std::move(msg));
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_NOMEM:
    case SQLITE_PERM:
    case SQLITE_PROTOCOL:
      return Unavailable(std::move(msg));
    default:
      return Internal(std::move(msg));
  }
}

}  // namespace drover::store

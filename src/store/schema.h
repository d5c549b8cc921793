// The store's SQLite schema, as an ordered list of migrations, and the small
// SQLite helpers the store shares with it.
//
// The database records its version in `schema_version` (one row; a database
// without the table is version 0). Migrate() applies every migration above
// that version in order, each in its own transaction together with the bump of
// the version, so a crash or a failing migration leaves the database at the
// last version that completed. Never edit a released migration: append one.
// Not thread-safe: the caller owns `db` for the duration of the call.
#pragma once

#include <string_view>
#include <vector>

#include "common/status.h"

struct sqlite3;

namespace drover::store {

struct Migration {
  int version;      //!< the version the database has after this migration
  const char* sql;  //!< one or more statements
};

//! drover's migrations, in ascending version order.
const std::vector<Migration>& Migrations();

//! The version the last migration produces.
int CurrentSchemaVersion();

//! Brings `db` to the last version of `migrations`. kFailedPrecondition if
//! the database is at a newer version (written by a newer drover);
//! kInvalidArgument if `migrations` is not strictly ascending; the error of
//! a failing migration otherwise (the database stays at the version before it).
Status Migrate(sqlite3* db, const std::vector<Migration>& migrations);

//! The version recorded in `db`, 0 when it has none.
Result<int> SchemaVersion(sqlite3* db);

//! Runs `sql` (statements without results).
Status Exec(sqlite3* db, std::string_view sql);

//! Maps an SQLite result code to a Status: constraint violations are
//! kInvalidArgument, I/O, full disk and lock contention kUnavailable,
//! corruption and everything else kInternal. The message is `context`,
//! then SQLite's own message for `db`.
Status SqliteStatus(sqlite3* db, int rc, std::string_view context);

}  // namespace drover::store

#include "store/schema.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <memory>

namespace drover::store {
namespace {

struct DbCloser {
  void operator()(sqlite3* db) const { sqlite3_close(db); }
};

std::unique_ptr<sqlite3, DbCloser> MemoryDb() {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open(":memory:", &db), SQLITE_OK);
  return std::unique_ptr<sqlite3, DbCloser>(db);
}

bool HasTable(sqlite3* db, const std::string& name) {
  return Exec(db, "SELECT 1 FROM " + name).ok();
}

TEST(SchemaTest, MigratesAFreshDatabaseToTheCurrentVersion) {
  auto db = MemoryDb();
  EXPECT_EQ(SchemaVersion(db.get()).value(), 0);
  ASSERT_TRUE(Migrate(db.get(), Migrations()).ok());
  EXPECT_EQ(SchemaVersion(db.get()).value(), CurrentSchemaVersion());
  for (const char* t : {"plan", "meta", "jobs", "events", "hosts", "workers", "users", "tokens"}) {
    EXPECT_TRUE(HasTable(db.get(), t)) << t;
  }
  // Migrating again is a no-op.
  EXPECT_TRUE(Migrate(db.get(), Migrations()).ok());
}

// Rows `sql` returns.
int CountRows(sqlite3* db, const std::string& sql) {
  int rows = 0;
  auto count = [](void* n, int, char**, char**) {
    ++*static_cast<int*>(n);
    return 0;
  };
  EXPECT_EQ(sqlite3_exec(db, sql.c_str(), count, &rows, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  return rows;
}

TEST(SchemaTest, AVersion1JobGainsNoFailuresOnMigration) {
  auto db = MemoryDb();
  ASSERT_TRUE(Migrate(db.get(), {Migrations()[0]}).ok());
  ASSERT_TRUE(Exec(db.get(),
                   "INSERT INTO jobs VALUES (1, 'j', '/', 'u', 0, 1, 4, 1, 1000, 1024, '[]', '{}', 0, 0, "
                   "'RUNNING', '', 1.0, 2.0, 0.0, 0.0, 3, '')")
                  .ok());
  ASSERT_TRUE(Migrate(db.get(), Migrations()).ok());
  EXPECT_EQ(CountRows(db.get(), "SELECT 1 FROM jobs WHERE failures = 0 AND last_failure = 0 AND failed_rank = -1"), 1);
  EXPECT_EQ(CountRows(db.get(), "SELECT 1 FROM jobs WHERE failed_rank = 0"), 0);  // the count can miss
}

TEST(SchemaTest, AppliesOnlyMigrationsAboveTheRecordedVersion) {
  auto db = MemoryDb();
  std::vector<Migration> v1 = {{1, "CREATE TABLE a (x INTEGER)"}};
  ASSERT_TRUE(Migrate(db.get(), v1).ok());
  // Migration 1 would fail if it ran again (the table exists).
  std::vector<Migration> v2 = {v1[0], {2, "CREATE TABLE b (x INTEGER)"}};
  Status st = Migrate(db.get(), v2);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(SchemaVersion(db.get()).value(), 2);
  EXPECT_TRUE(HasTable(db.get(), "b"));
}

TEST(SchemaTest, FailingMigrationLeavesThePreviousVersion) {
  auto db = MemoryDb();
  std::vector<Migration> ms = {{1, "CREATE TABLE a (x INTEGER)"},
                               {2, "CREATE TABLE c (x INTEGER); CREATE TABLE a (y INTEGER)"}};
  Status st = Migrate(db.get(), ms);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("migration to schema version 2"), std::string::npos) << st.message();
  EXPECT_EQ(SchemaVersion(db.get()).value(), 1);
  EXPECT_FALSE(HasTable(db.get(), "c"));  // rolled back with its migration
}

TEST(SchemaTest, RefusesADatabaseFromANewerVersion) {
  auto db = MemoryDb();
  ASSERT_TRUE(Migrate(db.get(), {{1, "SELECT 1"}, {2, "SELECT 1"}, {3, "SELECT 1"}}).ok());
  Status st = Migrate(db.get(), {{1, "SELECT 1"}, {2, "SELECT 1"}});
  EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(st.message(),
            "database schema version 3 is newer than this drover's 2; it was written by a newer "
            "drover: run that version, or point this one at another data directory");
  EXPECT_EQ(SchemaVersion(db.get()).value(), 3);
}

TEST(SchemaTest, RejectsMigrationsOutOfOrder) {
  auto db = MemoryDb();
  Status st = Migrate(db.get(), {{2, "SELECT 1"}, {1, "SELECT 1"}});
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(SchemaVersion(db.get()).value(), 0);
}

}  // namespace
}  // namespace drover::store

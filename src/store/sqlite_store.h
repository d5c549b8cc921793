// SqliteStore: the Store on one SQLite database, `dir`/drover.db, in WAL mode
// with synchronous=FULL, so a committed transaction survives a crash or power
// loss once COMMIT returns.
//
// Group commit. Apply() encodes its batch (JSON for vectors and maps) in the
// caller's thread, queues it and waits. A single committer thread owns the
// write connection: it takes every batch queued so far, applies them in queue
// order in ONE transaction — each batch inside its own SAVEPOINT, with
// statements prepared once and reused — commits (one fsync), and then wakes
// each caller with its own batch's result. A batch whose statements fail is
// rolled back to its savepoint and fails alone; the rest of its group commits.
// If the transaction as a whole fails (COMMIT or an I/O error that aborts it),
// every batch of the group is retried alone in its own transaction, so each
// caller gets its own batch's outcome. So throughput grows with the number of
// callers waiting instead of stopping at one batch per fsync.
//
// Reads (Load, Events) use a second connection, serialized by a mutex; under
// WAL they do not wait for the writer, and each Load is one read transaction,
// so it sees a consistent snapshot.
//
// Thread safety: every method may be called from any thread. The destructor
// commits what is queued, then stops the committer; no call may be in flight
// or start once it has begun.
//
// Within a batch, deletions (removed_workers, revoked_tokens) apply before
// upserts, so one batch can replace a job's workers by removing the old ranks
// and adding the new ones; two upserts of one key: the later wins.
//
// Errors, beyond store.h's: kInvalidArgument for a batch that breaks a
// constraint (a worker whose job is neither stored nor in the same batch) or
// holds a string that is not valid UTF-8 in argv, env or consumers (stored as
// JSON); such a batch changes nothing. kFailedPrecondition from Apply once the
// destructor has begun.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "store/store.h"

namespace drover::store {

struct SqliteStoreOptions {
  //! false: one transaction (and fsync) per batch — the benchmark's peer.
  bool group_commit = true;
  //! true: once a batch fails, every batch queued after it fails unapplied
  //! (kUnavailable, naming the first failure) until Resume(), as a database
  //! with a background error refuses writes. For a caller whose batches build
  //! on each other (the server's), so none commits a change resting on one
  //! the store refused.
  bool halt_after_failure = false;
};

class SqliteStore : public Store {
 public:
  //! As OpenSqliteStore, with options. Creates `dir` (mode 0700) if needed.
  static Result<std::unique_ptr<SqliteStore>> Open(const std::string& dir,
                                                   const SqliteStoreOptions& options = {});
  ~SqliteStore() override;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  [[nodiscard]] Status Apply(const WriteBatch& batch) override;
  //! Queues the batch in call order; the future is ready once it is durable.
  std::shared_future<Status> ApplyAsync(WriteBatch batch) override;
  Result<Snapshot> Load() override;
  void Resume() override;
  //! kInvalidArgument if `limit` is negative; none for 0.
  Result<std::vector<EventRecord>> Events(JobId job, int limit) override;
  Result<std::vector<SampleRecord>> Samples(const std::string& series, double resolution, double since,
                                            int limit) override;

  //! Batches queued and not yet committed (for tests and metrics).
  size_t pending() const;

 private:
  struct Pending;
  class Writer;
  class Reader;

  SqliteStore(const SqliteStoreOptions& options, std::unique_ptr<Writer> writer,
              std::unique_ptr<Reader> reader);
  void CommitLoop();

  const SqliteStoreOptions options_;
  std::unique_ptr<Writer> writer_;  //!< used only by the committer thread once it runs

  mutable std::mutex mu_;            //!< guards queue_, stopping_, and every Pending::done
  std::condition_variable work_cv_;  //!< the committer waits for batches
  std::condition_variable done_cv_;  //!< callers wait for their batch
  std::deque<Pending*> queue_;
  size_t in_flight_ = 0;  //!< taken by the committer, not yet done
  bool stopping_ = false;
  Status halted_;         //!< with halt_after_failure: the first failure since Resume()

  std::mutex read_mu_;  //!< serializes reader_
  std::unique_ptr<Reader> reader_;

  std::thread committer_;
};

}  // namespace drover::store

// LogStore: the workers' output as the agents ship it, one file per (job,
// rank) under <data dir>/logs/<job>/<rank>.log.
//
// An agent's offsets count from its own copy of a worker's output; a rank
// that ran on several hosts over its life (restarts, requeues) continues its
// file, each host's chunks placed at a base recorded when that host first
// wrote (a sidecar <rank>.base, kept across server restarts). Resent chunks
// are dropped. Readers that follow a log wait on a condition variable that
// Append and Wake signal; nothing polls.
//
// Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "api/wire.h"
#include "common/job.h"
#include "common/status.h"

namespace drover::server {

class LogStore {
 public:
  //! `dir`: the logs directory (created if needed).
  explicit LogStore(std::string dir);

  //! Appends the chunks `host`'s agent shipped. kUnavailable naming the file
  //! when one cannot be written (say the disk is full): the chunks before it
  //! are in, and the agent, told the sync failed, sends the rest again.
  Status Append(const std::string& host, const std::vector<api::LogChunk>& chunks);
  //! Whether (job, rank) has written anything.
  bool Exists(JobId job, int rank) const;
  //! The host whose output (job, rank)'s log holds last ("" if none yet).
  std::string WrittenBy(JobId job, int rank) const;
  //! The offset where the last `lines` lines of (job, rank) begin (0 for the whole file).
  uint64_t TailOffset(JobId job, int rank, int64_t lines) const;
  //! Up to `max` bytes of (job, rank) from `offset`; when there are none,
  //! waits up to `wait` for more (or a Wake/Close) and reads again.
  std::string Read(JobId job, int rank, uint64_t offset, std::chrono::milliseconds wait, size_t max = 1 << 20);
  //! Wakes every waiting reader, to look again (say a job ended).
  void Wake();
  //! Wakes every reader for good: later reads do not wait.
  void Close();

 private:
  std::string File(JobId job, int rank) const;
  std::string ReadLocked(JobId job, int rank, uint64_t offset, size_t max) const;

  std::string dir_;
  mutable std::mutex mu_;
  std::condition_variable more_;
  uint64_t version_ = 0;  // bumped by Append and Wake
  bool closed_ = false;
};

}  // namespace drover::server

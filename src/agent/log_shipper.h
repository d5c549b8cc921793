// LogShipper: which bytes of each worker's output.log the server has, and the
// next ones to send.
//
// Per worker it keeps the acknowledged offset (bytes the server confirmed by
// answering a sync) and the end of the bytes in flight. Collect() always reads
// from the acknowledged offset, so after a lost response the same bytes go
// again at the same offset (idempotent); Acknowledge() moves the offsets up to
// what the last Collect() returned. A sync carries at most `max_bytes_per_sync`
// in all; the worker read first rotates between syncs so one chatty worker
// cannot starve the others.
//
// Data must be a JSON string, so it is made valid UTF-8 without changing its
// length: a chunk never ends inside a character (the tail waits for the next
// sync, unless the worker has finished), and each byte that is not part of a
// valid character becomes '?'. Offsets thus stay byte offsets into the file.
//
// Offsets are positions in output.log, which holds every generation of a
// (job, rank) that ran in this work dir: the server keeps one log per (job,
// rank) and skips bytes below its length, so a new generation continues at the
// file's end. A generation's bytes are those from where it started (`start`
// in Track) to where it exited.
// Thread safety: none; the agent's loop owns it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "agent/protocol.h"

namespace drover::agent {

inline constexpr size_t kMaxLogBytesPerSync = 256 * 1024;

class LogShipper {
 public:
  explicit LogShipper(size_t max_bytes_per_sync = kMaxLogBytesPerSync)
      : max_bytes_(max_bytes_per_sync) {}

  //! Starts shipping `file` from position `start` for `key`. No-op if tracked.
  void Track(const WorkerKey& key, std::filesystem::path file, uint64_t start);
  //! The worker exited: its output ends at the file's present size (a next
  //! generation may append to the same file), and a trailing partial
  //! character is sent (as '?') rather than held back.
  void MarkFinished(const WorkerKey& key);
  //! Stops tracking `key`; bytes not yet acknowledged are dropped.
  void Forget(const WorkerKey& key);

  //! New bytes past each worker's acknowledged offset, within the cap. An
  //! unreadable or missing file counts as empty.
  std::vector<LogChunk> Collect();
  //! The last Collect()'s chunks reached the server.
  void Acknowledge();
  //! True when the last Collect() reached the end of a finished worker's output,
  //! i.e. once it is acknowledged the server has all of it.
  bool CollectedAll(const WorkerKey& key) const;

  //! True when the last Collect() left bytes behind because of the cap.
  bool backlog() const { return backlog_; }
  uint64_t acknowledged(const WorkerKey& key) const;

 private:
  struct Entry {
    std::filesystem::path file;
    uint64_t acked = 0;      //!< file position up to which the server has the bytes
    uint64_t in_flight = 0;  //!< end of the last Collect()'s bytes
    bool finished = false;
    uint64_t end = 0;     //!< finished only: file position where its output ends
    bool at_end = false;  //!< the last Collect() read everything there was
  };

  size_t max_bytes_;
  std::map<WorkerKey, Entry> entries_;
  size_t rotation_ = 0;
  bool backlog_ = false;  //!< index of the worker read first in the next Collect()
};

//! Replaces each byte of `data` that is not part of a valid UTF-8 character
//! with '?', in place. Returns the length of the prefix to send: all of it
//! when `final`, else up to the start of a character cut off at the end.
size_t SanitizeUtf8(std::string& data, bool final);

}  // namespace drover::agent

#include "agent/log_shipper.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>

namespace drover::agent {
namespace {

// Length of the valid UTF-8 character at data[i], 0 if the bytes there are not
// one, or -1 if they are a valid but cut-off start of one (RFC 3629 table).
int CharLength(const std::string& data, size_t i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(data[k]); };
  unsigned char c = byte(i);
  if (c < 0x80) return 1;
  int len;
  unsigned char lo = 0x80, hi = 0xBF;  // range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;  // no surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  for (int k = 1; k < len; ++k) {
    if (i + k >= data.size()) return -1;
    unsigned char b = byte(i + k);
    if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) return 0;
  }
  return len;
}

// Reads up to `max` bytes at `offset`; an unreadable file reads as empty.
std::string ReadAt(const std::filesystem::path& file, uint64_t offset, size_t max) {
  std::string out;
  int fd = open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  out.resize(max);
  size_t got = 0;
  while (got < max) {
    ssize_t n = pread(fd, out.data() + got, max - got, static_cast<off_t>(offset + got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  close(fd);
  out.resize(got);
  return out;
}

}  // namespace

size_t SanitizeUtf8(std::string& data, bool final) {
  size_t i = 0;
  while (i < data.size()) {
    int len = CharLength(data, i);
    if (len > 0) {
      i += static_cast<size_t>(len);
    } else if (len < 0 && !final) {
      return i;
    } else {
      data[i++] = '?';
    }
  }
  return data.size();
}

void LogShipper::Track(const WorkerKey& key, std::filesystem::path file, uint64_t start) {
  entries_.try_emplace(key, Entry{std::move(file), start, start});
}

void LogShipper::MarkFinished(const WorkerKey& key) {
  auto it = entries_.find(key);
  if (it == entries_.end() || it->second.finished) return;
  std::error_code ec;
  uint64_t size = std::filesystem::file_size(it->second.file, ec);
  it->second.finished = true;
  it->second.end = ec ? 0 : size;
}

void LogShipper::Forget(const WorkerKey& key) { entries_.erase(key); }

std::vector<LogChunk> LogShipper::Collect() {
  std::vector<LogChunk> chunks;
  if (entries_.empty()) return chunks;
  std::vector<std::map<WorkerKey, Entry>::iterator> order;
  for (auto it = entries_.begin(); it != entries_.end(); ++it) order.push_back(it);
  size_t first = rotation_ % order.size();
  rotation_ = first + 1;
  size_t budget = max_bytes_;
  backlog_ = false;
  for (size_t n = 0; n < order.size(); ++n) {
    auto& [key, e] = *order[(first + n) % order.size()];
    e.in_flight = e.acked;
    e.at_end = false;
    uint64_t pos = e.acked;
    std::string data;
    bool reached_end;
    if (e.finished) {
      uint64_t left = e.end > pos ? e.end - pos : 0;
      data = ReadAt(e.file, pos, static_cast<size_t>(std::min<uint64_t>(left, budget)));
      // A short read means the file shrank: there is no more to send.
      reached_end = data.size() == left || data.size() < std::min<uint64_t>(left, budget);
    } else {
      // One byte more than the budget tells whether this read reached the end.
      data = ReadAt(e.file, pos, budget + 1);
      reached_end = data.size() <= budget;
      if (!reached_end) data.resize(budget);
    }
    if (!reached_end) backlog_ = true;
    size_t keep = SanitizeUtf8(data, e.finished && reached_end);
    e.at_end = reached_end && keep == data.size();
    data.resize(keep);
    if (data.empty()) continue;
    budget -= data.size();
    e.in_flight = e.acked + data.size();
    chunks.push_back(LogChunk{key, e.acked, std::move(data)});
  }
  return chunks;
}

void LogShipper::Acknowledge() {
  for (auto& [key, e] : entries_) e.acked = e.in_flight;
}

bool LogShipper::CollectedAll(const WorkerKey& key) const {
  auto it = entries_.find(key);
  return it == entries_.end() || (it->second.finished && it->second.at_end);
}

uint64_t LogShipper::acknowledged(const WorkerKey& key) const {
  auto it = entries_.find(key);
  return it == entries_.end() ? 0 : it->second.acked;
}

}  // namespace drover::agent

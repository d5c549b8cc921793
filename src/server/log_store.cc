#include "server/log_store.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace drover::server {

namespace fs = std::filesystem;

LogStore::LogStore(std::string dir) : dir_(std::move(dir)) {
  std::error_code ec;
  fs::create_directories(dir_, ec);
}

std::string LogStore::File(JobId job, int rank) const {
  return dir_ + "/" + std::to_string(job) + "/" + std::to_string(rank) + ".log";
}

Status LogStore::Append(const std::string& host, const std::vector<api::LogChunk>& chunks) {
  if (chunks.empty()) return Status::Ok();
  Status st;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const api::LogChunk& l : chunks) {
      fs::path dir = fs::path(dir_) / std::to_string(l.key.job);
      std::error_code ec;
      fs::create_directories(dir, ec);
      if (ec) {
        st = Unavailable("cannot store output in " + dir.string() + ": " + ec.message());
        break;
      }
      fs::path file = dir / (std::to_string(l.key.rank) + ".log");
      fs::path side = dir / (std::to_string(l.key.rank) + ".base");
      uint64_t have = fs::exists(file, ec) ? fs::file_size(file, ec) : 0;
      if (ec) have = 0;
      std::string base_host;
      uint64_t base = 0;
      if (std::ifstream in(side); in) {
        std::getline(in, base_host);
        in >> base;
      }
      if (base_host != host) {
        base = have >= l.offset ? have - l.offset : 0;
        std::ofstream out(side, std::ios::trunc);
        out << host << "\n" << base << "\n";
        if (!out.flush()) {
          st = Unavailable("cannot store output in " + side.string() + ": " + std::strerror(errno));
          break;
        }
      }
      uint64_t at = base + l.offset;
      if (at + l.data.size() <= have) continue;
      std::string data = at < have ? l.data.substr(have - at) : l.data;
      std::ofstream out(file, std::ios::app | std::ios::binary);
      out << data;
      if (!out.flush()) {
        st = Unavailable("cannot store output in " + file.string() + ": " + std::strerror(errno));
        break;
      }
    }
    ++version_;
  }
  more_.notify_all();
  return st;
}

std::string LogStore::WrittenBy(JobId job, int rank) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::ifstream in(dir_ + "/" + std::to_string(job) + "/" + std::to_string(rank) + ".base");
  std::string host;
  if (in) std::getline(in, host);
  return host;
}

bool LogStore::Exists(JobId job, int rank) const {
  std::lock_guard<std::mutex> lock(mu_);
  return fs::exists(File(job, rank));
}

uint64_t LogStore::TailOffset(JobId job, int rank, int64_t lines) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::ifstream in(File(job, rank), std::ios::binary);
  if (!in) return 0;
  std::string all((std::istreambuf_iterator<char>(in)), {});
  // Skip a final newline: it ends the last line rather than starting another.
  size_t pos = all.size();
  if (pos > 0 && all[pos - 1] == '\n') --pos;
  for (int64_t n = 0; n < lines; ++n) {
    size_t nl = pos == 0 ? std::string::npos : all.rfind('\n', pos - 1);
    if (nl == std::string::npos) return 0;
    pos = nl;
  }
  return lines <= 0 ? all.size() : pos + 1;
}

std::string LogStore::ReadLocked(JobId job, int rank, uint64_t offset, size_t max) const {
  std::ifstream in(File(job, rank), std::ios::binary);
  if (!in) return "";
  in.seekg(static_cast<std::streamoff>(offset));
  std::string out(max, '\0');
  in.read(out.data(), static_cast<std::streamsize>(max));
  out.resize(static_cast<size_t>(std::max<std::streamsize>(in.gcount(), 0)));
  return out;
}

std::string LogStore::Read(JobId job, int rank, uint64_t offset, std::chrono::milliseconds wait, size_t max) {
  std::unique_lock<std::mutex> lock(mu_);
  std::string out = ReadLocked(job, rank, offset, max);
  if (!out.empty() || closed_ || wait.count() <= 0) return out;
  uint64_t seen = version_;
  more_.wait_for(lock, wait, [&] { return closed_ || version_ != seen; });
  return ReadLocked(job, rank, offset, max);
}

void LogStore::Wake() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++version_;
  }
  more_.notify_all();
}

void LogStore::Close() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
  }
  more_.notify_all();
}

}  // namespace drover::server

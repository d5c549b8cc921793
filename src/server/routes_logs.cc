// Workers' output: read, tailed, or followed until the job ends.
#include <algorithm>
#include <chrono>
#include <memory>
#include <vector>

#include <httplib.h>

#include "server/http_util.h"
#include "server/server.h"

namespace drover::server {

void Server::LogRoutes(Router& router) {
  // ?worker=R (default: the job's lowest current worker, else the one that
  // failed last, else 0), ?tail=N lines, ?follow=1 streams until the job ends.
  router.Get("/api/v1/jobs/{id}/logs", kJobReaders, [this](const Principal& who, const httplib::Request& req,
                                                           httplib::Response& res) {
    auto worker = IntParam(req, "worker");
    auto tail = IntParam(req, "tail");
    if (!worker.ok()) return Fail(res, worker.status());
    if (!tail.ok()) return Fail(res, tail.status());
    if (*worker && (**worker < 0 || **worker > 1'000'000'000)) {
      return Fail(res, InvalidArgument("worker: " + std::to_string(**worker) + " is not a worker rank"));
    }
    JobId id = 0;
    int rank = 0;
    std::vector<int> current;  // the job's workers now
    {
      std::lock_guard<std::mutex> lock(mu_);
      const Job* j = VisibleJob(who, req);
      if (!j) return Fail(res, NoSuchJob(req));
      id = j->rec.id;
      for (const auto& w : j->workers) current.push_back(w.rank);
      rank = *worker                ? static_cast<int>(**worker)
             : !current.empty()     ? current.front()
             : j->rec.failed_rank >= 0 ? j->rec.failed_rank
                                       : 0;
    }
    // The log file is looked at outside the model's lock.
    if (*worker && std::find(current.begin(), current.end(), rank) == current.end() && !logs_->Exists(id, rank)) {
      std::string workers;
      for (int r : current) workers += (workers.empty() ? "" : ", ") + std::to_string(r);
      return Fail(res, NotFound("worker " + std::to_string(rank) + " of job " + std::to_string(id) + " has no output" +
                                (workers.empty() ? "" : "; its current workers are " + workers)));
    }
    bool follow = FlagParam(req, "follow");
    auto offset = std::make_shared<uint64_t>(*tail && **tail >= 0 ? logs_->TailOffset(id, rank, **tail) : 0);
    res.set_header("X-Drover-Worker", std::to_string(rank));
    res.set_chunked_content_provider("text/plain", [this, id, rank, offset, follow](size_t, httplib::DataSink& sink) {
      // Waits for output on the log store's condition variable, which new
      // output, a commit (a job's end) and shutdown signal: nothing polls.
      std::string chunk = logs_->Read(id, rank, *offset, std::chrono::milliseconds(follow ? 5000 : 0));
      if (!chunk.empty()) {
        *offset += chunk.size();
        return sink.write(chunk.data(), chunk.size());
      }
      bool ended;
      {
        std::lock_guard<std::mutex> lock(mu_);
        const Job* j = model_.FindJob(id);
        ended = stopping_ || !j || IsTerminal(j->rec.state);
      }
      if (ended) {
        // Output shipped with the job's last sync is already in: read it before ending.
        chunk = logs_->Read(id, rank, *offset, std::chrono::milliseconds(0));
        if (!chunk.empty()) {
          *offset += chunk.size();
          if (!sink.write(chunk.data(), chunk.size())) return false;
        }
      }
      if (!follow || ended) {
        sink.done();
        return true;
      }
      return true;  // nothing new yet: the library calls again
    });
  });
}

}  // namespace drover::server

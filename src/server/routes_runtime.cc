// The training runtime's endpoints: a job's membership, its workers' status
// posts, and its key-value store for the c10d rendezvous.
#include <algorithm>
#include <chrono>

#include <httplib.h>

#include "api/wire.h"
#include "server/http_util.h"
#include "server/server.h"

namespace drover::server {

void Server::RuntimeRoutes(Router& router) {
  // Membership of a job, for its workers' elastic runtime: the generation
  // changes whenever the worker set does. With `after=G` the call waits (up to
  // `wait_ms`, default 10 s) until the generation exceeds G or the job ends;
  // with `ready=1` as well, also until every member not exited has posted
  // ready (so the senior rank knows when newcomers can join).
  router.Get("/api/v1/jobs/{id}/members", kJobReaders, [this](const Principal& who, const httplib::Request& req,
                                                              httplib::Response& res) {
    auto after = IntParam(req, "after");
    auto wait = IntParam(req, "wait_ms");
    if (!after.ok()) return Fail(res, after.status());
    if (!wait.ok()) return Fail(res, wait.status());
    int64_t wait_ms = std::clamp<int64_t>(wait->value_or(10000), 0, 60000);
    bool ready = FlagParam(req, "ready");
    auto all_ready = [](const Job& j) {
      return std::all_of(j.workers.begin(), j.workers.end(), [&](const store::WorkerRecord& w) {
        const WorkerContact* c = j.Contact(w);
        return w.state == WorkerState::kExited || (c && c->ready);
      });
    };
    std::unique_lock<std::mutex> lock(mu_);
    if (!VisibleJob(who, req)) return Fail(res, NoSuchJob(req));
    if (*after) {
      changed_.wait_for(lock, std::chrono::milliseconds(wait_ms), [&] {
        const Job* j = VisibleJob(who, req);
        return stopping_ || !j || IsTerminal(j->rec.state) ||
               (j->rec.generation > **after && (!ready || all_ready(*j)));
      });
    }
    const Job* j = VisibleJob(who, req);
    if (!j) return Fail(res, NoSuchJob(req));
    api::Membership m{j->rec.id, j->rec.state, j->rec.generation, {}};
    for (const auto& w : j->workers) {
      auto host = model_.hosts().find(w.host);
      const WorkerContact* c = j->Contact(w);
      m.members.push_back({w.rank, w.generation, w.host, host != model_.hosts().end() ? host->second.address : "",
                           w.state, c && c->ready});
    }
    ReplyEncoded(res, api::Encode(m));
  });

  // A worker's status post: its heartbeat, whether it is ready (has joined
  // the membership and holds the training state), the job's progress, and the
  // pause a resize cost. Kept in memory only; a regroup request is stored.
  router.Post("/api/v1/jobs/{id}/workers/{rank}/status", {Role::kAdmin, Role::kWorker},
              [this](const Principal& who, const httplib::Request& req, httplib::Response& res) {
    Result<WorkerStatus> status = api::DecodeWorkerStatus(req.body);
    if (!status.ok()) return Fail(res, status.status());
    std::string rank_text = req.matches[2];
    int64_t generation = 0;
    Status st = Mutate([&](store::WriteBatch* batch) -> Status {
      const Job* j = VisibleJob(who, req);
      if (!j) return NoSuchJob(req);
      int rank = rank_text.size() > 9 ? -1 : std::stoi(rank_text);
      Result<int64_t> g = model_.ReportWorkerStatus(j->rec.id, rank, *status, Now());
      if (!g.ok()) return NotFound("worker " + rank_text + " of job " + req.matches[1].str() + " is not a member");
      // A resize's pause is stored at once (its job only); progress once a scheduling cycle.
      if (status->rescale) model_.FlushProgress(batch, j->rec.id);
      if (status->regroup) {
        g = model_.Regroup(j->rec.id, status->generation, "worker " + rank_text, Now(), batch);
        if (!g.ok()) return g.status();
        if (model_.DoubtSilentPeers(j->rec.id, rank, Now()) > 0) Trigger();
      }
      generation = *g;
      changed_.notify_all();  // waiting membership reads look at readiness again
      return Status::Ok();
    });
    if (!st.ok()) return Fail(res, st);
    Reply(res, 200, {{"generation", generation}});
  });

  // -- each job's key-value store: the workers' c10d rendezvous ---------------
  // In memory only (see JobKvStore). Reads may wait for a key; they wait on
  // kv_mu_/kv_changed_, never holding mu_.
  //
  // Wraps a key-value handler: the job's store incarnation (its restart
  // count) if `who` may use its store (not found if invisible, a failed
  // precondition once the job ended), and the key.
  using KvHandler = std::function<void(JobId, int64_t, const std::string&, const httplib::Request&,
                                       httplib::Response&)>;
  auto kv = [this](KvHandler fn) {
    return [this, fn](const Principal& who, const httplib::Request& req, httplib::Response& res) {
      JobId id = 0;
      int64_t incarnation = 0;
      {
        std::lock_guard<std::mutex> lock(mu_);
        const Job* j = VisibleJob(who, req);
        if (!j) return Fail(res, NoSuchJob(req));
        if (IsTerminal(j->rec.state)) {
          return Fail(res, FailedPrecondition("job " + std::to_string(j->rec.id) + " has ended"));
        }
        id = j->rec.id;
        incarnation = j->rec.restarts;
      }
      fn(id, incarnation, req.matches.size() > 2 ? req.matches[2].str() : "", req, res);
    };
  };

  router.Put("/api/v1/jobs/{id}/kv/{key}", kJobReaders, kv([this](JobId id, int64_t inc, const std::string& key,
                                                                  const httplib::Request& req,
                                                                  httplib::Response& res) {
    {
      std::lock_guard<std::mutex> lock(kv_mu_);
      Status st = kv_.Set(id, inc, key, req.body);
      if (!st.ok()) return Fail(res, st);
    }
    kv_changed_.notify_all();
    Reply(res, 200, {{"key", key}});
  }));

  router.Get("/api/v1/jobs/{id}/kv/{key}", kJobReaders, kv([this](JobId id, int64_t inc, const std::string& key,
                                                                  const httplib::Request& req,
                                                                  httplib::Response& res) {
    auto wait = IntParam(req, "wait_ms");
    if (!wait.ok()) return Fail(res, wait.status());
    int64_t wait_ms = std::clamp<int64_t>(wait->value_or(0), 0, 60000);
    std::optional<std::string> value;
    {
      std::unique_lock<std::mutex> lock(kv_mu_);
      kv_changed_.wait_for(lock, std::chrono::milliseconds(wait_ms), [&] {
        value = kv_.Get(id, inc, key);
        return kv_stopping_ || value.has_value();
      });
    }
    if (!value) return Fail(res, NotFound("key " + key + " is not set in job " + std::to_string(id) + "'s store"));
    res.status = 200;
    res.set_content(std::move(*value), "application/octet-stream");
  }));

  router.Post("/api/v1/jobs/{id}/kv/{key}", kJobReaders, kv([this](JobId id, int64_t inc, const std::string& key,
                                                                   const httplib::Request& req,
                                                                   httplib::Response& res) {
    auto add = IntParam(req, "add");
    if (!add.ok() || !*add) return Fail(res, InvalidArgument("add: expected an integer, e.g. ?add=1"));
    std::unique_lock<std::mutex> lock(kv_mu_);
    Result<int64_t> value = kv_.Add(id, inc, key, **add);
    lock.unlock();
    if (!value.ok()) return Fail(res, value.status());
    kv_changed_.notify_all();
    Reply(res, 200, {{"value", *value}});
  }));

  router.Delete("/api/v1/jobs/{id}/kv/{key}", kJobReaders, kv([this](JobId id, int64_t inc, const std::string& key,
                                                                     const httplib::Request&,
                                                                     httplib::Response& res) {
    std::lock_guard<std::mutex> lock(kv_mu_);
    bool deleted = kv_.Erase(id, inc, key);
    Reply(res, 200, {{"deleted", deleted}});
  }));

  router.Get("/api/v1/jobs/{id}/kv", kJobReaders, kv([this](JobId id, int64_t inc, const std::string&,
                                                            const httplib::Request&, httplib::Response& res) {
    std::lock_guard<std::mutex> lock(kv_mu_);
    size_t keys = kv_.Count(id, inc);
    Reply(res, 200, {{"keys", keys}});
  }));
}

}  // namespace drover::server

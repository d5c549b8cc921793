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
  router.GetWaiting("/api/v1/jobs/{id}/members", kJobReaders, [this](const Principal& who, const httplib::Request& req,
                                                                     httplib::Response& res) -> std::optional<Wait> {
    auto after = IntParam(req, "after");
    auto wait_param = IntParam(req, "wait_ms");
    if (!after.ok() || !wait_param.ok()) {
      Fail(res, !after.ok() ? after.status() : wait_param.status());
      return std::nullopt;
    }
    const int64_t wait_ms = std::clamp<int64_t>(wait_param->value_or(10000), 0, 60000);
    const bool ready = FlagParam(req, "ready");
    // Answers (under mu_) once there is something to say: the job is gone or
    // ended, or its generation passed `after` (with every member ready if asked).
    auto answer = [this, who, &req, after = *after, ready](httplib::Response& out, bool now) {
      const Job* j = VisibleJob(who, req);
      if (!j) {
        Fail(out, NoSuchJob(req));
        return true;
      }
      bool all_ready = std::all_of(j->workers.begin(), j->workers.end(), [&](const store::WorkerRecord& w) {
        const WorkerContact* c = j->Contact(w);
        return w.state == WorkerState::kExited || (c && c->ready);
      });
      if (!now && !stopping_ && !IsTerminal(j->rec.state) && (j->rec.generation <= *after || (ready && !all_ready))) {
        return false;
      }
      api::Membership m{j->rec.id, j->rec.state, j->rec.generation, {}};
      for (const auto& w : j->workers) {
        auto host = model_.hosts().find(w.host);
        const WorkerContact* c = j->Contact(w);
        m.members.push_back({w.rank, w.generation, w.host, host != model_.hosts().end() ? host->second.address : "",
                             w.state, c && c->ready});
      }
      ReplyEncoded(out, api::Encode(m));
      return true;
    };
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (answer(res, /*now=*/!after->has_value() || wait_ms == 0)) return std::nullopt;
    }
    Wait wait;
    wait.timeout = std::chrono::milliseconds(wait_ms);
    wait.poll = [this, answer](httplib::Response& out, bool timed_out) {
      std::lock_guard<std::mutex> lock(mu_);
      return answer(out, timed_out);
    };
    return wait;
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
      // An inference replica the router may now send requests to (or no longer): ready with a new port.
      auto serving = [&] {
        auto c = j->contacts.find(rank);
        return c == j->contacts.end() ? std::pair<bool, int>{false, 0} : std::pair{c->second.ready, c->second.port};
      };
      const std::pair<bool, int> served_before = serving();
      const bool had_profile = j->rec.progress.profile.has_value();
      Result<int64_t> g = model_.ReportWorkerStatus(j->rec.id, rank, *status, Now());
      if (!g.ok()) return NotFound("worker " + rank_text + " of job " + req.matches[1].str() + " is not a member");
      // A resize's pause, and the first measured step (with the prior the job's fit starts from), are
      // stored at once (its job only); other progress once a scheduling cycle.
      if (status->rescale || (!had_profile && j->rec.progress.profile)) model_.FlushProgress(batch, j->rec.id);
      if (status->regroup) {
        g = model_.Regroup(j->rec.id, status->generation, "worker " + rank_text, Now(), batch);
        if (!g.ok()) return g.status();
        if (model_.DoubtSilentPeers(j->rec.id, rank, Now()) > 0) Trigger();
      }
      generation = *g;
      if (serving() != served_before) RefreshRoutesLocked();
      Changed();  // parked membership reads look at readiness again
      return Status::Ok();
    });
    if (!st.ok()) return Fail(res, st);
    Reply(res, 200, {{"generation", generation}});
  });

  // -- each job's key-value store: the workers' c10d rendezvous ---------------
  // In memory only (see JobKvStore). A read may wait for its key: it is
  // parked, and looked at again (under kv_mu_, never mu_) after each change.
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
    // Besides each job's own limit, all of one user's jobs together hold at most max_kv_bytes_per_user.
    std::string user;
    std::vector<JobId> theirs;
    {
      std::lock_guard<std::mutex> lock(mu_);
      const Job* j = model_.FindJob(id);
      if (j) user = j->rec.user;
      theirs = model_.ActiveJobs(user);
    }
    {
      std::lock_guard<std::mutex> lock(kv_mu_);
      size_t held = 0;
      for (JobId other : theirs) held += kv_.Bytes(other);
      if (held + req.body.size() > opt_.max_kv_bytes_per_user) {
        return Fail(res, Status(StatusCode::kResourceExhausted,
                                "the key-value stores of " + user + "'s jobs hold " + std::to_string(held >> 20) +
                                    " MiB; with this value they would pass the " +
                                    std::to_string(opt_.max_kv_bytes_per_user >> 20) + " MiB one user may hold"));
      }
      Status st = kv_.Set(id, inc, key, req.body);
      if (!st.ok()) return Fail(res, st);
    }
    KvChanged();
    Reply(res, 200, {{"key", key}});
  }));

  // A read with `wait_ms` is parked until its key is set or the time is up.
  router.GetWaiting("/api/v1/jobs/{id}/kv/{key}", kJobReaders, [this, kv](const Principal& who,
                                                                          const httplib::Request& req,
                                                                          httplib::Response& res) -> std::optional<Wait> {
    auto wait_param = IntParam(req, "wait_ms");
    if (!wait_param.ok()) {
      Fail(res, wait_param.status());
      return std::nullopt;
    }
    const int64_t wait_ms = std::clamp<int64_t>(wait_param->value_or(0), 0, 60000);
    std::optional<Wait> wait;
    kv([&](JobId id, int64_t inc, const std::string& key, const httplib::Request&, httplib::Response& out) {
      // Answers (under kv_mu_) with the value, or with 404 once `give_up`.
      auto answer = [this, id, inc, key](httplib::Response& r, bool give_up) {
        std::optional<std::string> value = kv_.Get(id, inc, key);
        if (!value && !give_up && !kv_stopping_) return false;
        if (!value) {
          Fail(r, NotFound("key " + key + " is not set in job " + std::to_string(id) + "'s store"));
        } else {
          r.status = 200;
          r.set_content(std::move(*value), "application/octet-stream");
        }
        return true;
      };
      {
        std::lock_guard<std::mutex> lock(kv_mu_);
        if (answer(out, wait_ms == 0)) return;
      }
      wait.emplace();
      wait->timeout = std::chrono::milliseconds(wait_ms);
      wait->poll = [this, answer](httplib::Response& r, bool timed_out) {
        std::lock_guard<std::mutex> lock(kv_mu_);
        return answer(r, timed_out);
      };
    })(who, req, res);
    return wait;
  });

  router.Post("/api/v1/jobs/{id}/kv/{key}", kJobReaders, kv([this](JobId id, int64_t inc, const std::string& key,
                                                                   const httplib::Request& req,
                                                                   httplib::Response& res) {
    auto add = IntParam(req, "add");
    if (!add.ok() || !*add) return Fail(res, InvalidArgument("add: expected an integer, e.g. ?add=1"));
    std::unique_lock<std::mutex> lock(kv_mu_);
    Result<int64_t> value = kv_.Add(id, inc, key, **add);
    lock.unlock();
    if (!value.ok()) return Fail(res, value.status());
    KvChanged();
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

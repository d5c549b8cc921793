// Jobs: submit, list, show, cancel, change priority or bounds.
#include <algorithm>
#include <cctype>

#include <httplib.h>

#include "server/http_util.h"
#include "server/server.h"

namespace drover::server {
namespace {

json JobSummary(const Job& j, const ClusterModel& model) {
  const store::JobRecord& r = j.rec;
  const std::string reason = model.PendingReason(r.id);
  const std::optional<sched::PendingKind> kind = model.PendingKindOf(r.id);
  const int workers = j.Alive();
  return {{"id", r.id},
          {"name", r.name},
          {"consumer", r.consumer},
          {"user", r.user},
          {"state", api::Name(r.state)},
          {"priority", r.priority},
          {"workers", {{"min", r.workers.min}, {"max", r.workers.max}}},
          {"world_size", workers},
          {"gpus", workers * r.per_worker.gpus},
          {"submit_time", r.submit_time},
          {"start_time", r.start_time > 0 ? json(r.start_time) : json()},  // null: not started yet
          {"end_time", r.end_time > 0 ? json(r.end_time) : json()},        // null: not ended
          {"reason", reason.empty() ? r.reason : reason},
          {"pending_kind", kind && !IsTerminal(r.state) ? json(sched::PendingKindName(*kind)) : json()},
          {"step", OrNull(j.rec.progress.step)},
          {"epoch", OrNull(j.rec.progress.epoch)},
          {"loss", OrNull(j.rec.progress.loss)},
          {"samples_per_s", OrNull(j.rec.progress.samples_per_s)},
          {"samples_left", OrNull(j.rec.progress.samples_left)}};
}

// What the server has learned of the job's speed: the points it rests on, the
// gradient noise, and the predicted rate and goodput at each size. Null until
// a worker posted a measured step.
json ProfileJson(const Job& j, const ClusterModel& model) {
  sched::GoodputModel* g = j.Goodput();
  if (!g || g->points() == 0) return json();
  const int per_host = model.WorkersPerHost(j.rec.per_worker);
  const std::vector<double> speedup = j.Speedup(per_host);
  json sizes = json::array();
  for (int k = 1; k <= std::min(j.rec.workers.max, 64); ++k) {
    const sched::BatchChoice c = g->Best((k + per_host - 1) / per_host, k);
    if (!c.feasible) continue;
    sizes.push_back({{"workers", k},
                     {"batch", c.global_batch},
                     {"samples_per_s", c.samples_per_s},
                     // Useful samples per second: at the initial batch, what a bigger batch is worth.
                     {"goodput", c.goodput * g->limits().init_batch},
                     {"speedup", k < static_cast<int>(speedup.size()) ? json(speedup[k]) : json()}});
  }
  json measured = json::array();
  for (const auto& [o, count] : g->Points()) {
    measured.push_back({{"nodes", o.nodes}, {"workers", o.replicas}, {"local_batch", o.local_batch},
                        {"step_s", o.step_time}, {"compute_s", o.compute_time}, {"posts", count}});
  }
  const sched::ThroughputParams& p = g->Params();
  const std::optional<store::PriorRecord>& prior = j.rec.progress.profile->prior;
  // At its size now, by this profile: what the scheduler weighs it by.
  const int world = j.rec.progress.world_size.value_or(0);
  const double work = j.RemainingWork();
  json time_left;
  if (work > 0 && world > 0 && world < static_cast<int>(speedup.size()) && speedup[world] > 0) {
    time_left = work / speedup[world];
  }
  return {{"points", g->points()},
          {"time_left_s", time_left},
          {"prior_from_job", prior ? json(prior->from_job) : json()},
          {"measured", measured},
          {"init_batch", g->limits().init_batch},
          {"max_batch", g->limits().adaptive ? json(g->limits().max_batch) : json()},
          {"gradient_noise", g->noise().known() ? json{{"sqr", g->noise().sqr}, {"var", g->noise().var}} : json()},
          {"fit", {{"a_grad", p.a_grad}, {"b_grad", p.b_grad}, {"a_local", p.a_local}, {"b_local", p.b_local},
                   {"a_node", p.a_node}, {"b_node", p.b_node}, {"gamma", p.gamma}}},
          {"by_size", sizes}};
}

// `?state=` as a job state, in any case; kInvalidArgument listing the states otherwise.
Result<JobState> StateFilter(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::toupper(c); });
  if (std::optional<JobState> state = api::ParseJobState(s)) return *state;
  std::string all;
  for (JobState known : api::kAllJobStates) all += (all.empty() ? "" : ", ") + std::string(api::Name(known));
  return InvalidArgument("state: \"" + s + "\" is not a job state; one of " + all);
}

// An integer field of a PATCH body within [lo, hi], named in the error.
Result<int> BoundedInt(const json& v, const std::string& field, int64_t lo, int64_t hi) {
  if (!v.is_number_integer()) return InvalidArgument(field + ": expected an integer");
  if (v.is_number_unsigned() ? v.get<uint64_t>() > static_cast<uint64_t>(hi) : v.get<int64_t>() > hi) {
    return InvalidArgument(field + ": " + v.dump() + " is above " + std::to_string(hi));
  }
  if (!v.is_number_unsigned() && v.get<int64_t>() < lo) {
    return InvalidArgument(field + ": " + v.dump() + " is below " + std::to_string(lo));
  }
  return static_cast<int>(v.get<int64_t>());
}

}  // namespace

void Server::JobRoutes(Router& router) {
  router.Post("/api/v1/jobs", kPeople, [this](const Principal& who, const httplib::Request& req,
                                              httplib::Response& res) {
    Result<ParsedJob> parsed = ParseJobSpec(req.body, FileLabel(req, "job.yaml"));
    if (!parsed.ok()) return Fail(res, parsed.status());
    JobId id = 0;
    bool over_quota = false;
    Status st = Mutate([&](store::WriteBatch* batch) -> Status {
      // One user cannot fill the server with jobs: admins are not counted.
      if (Status quota = JobQuotaLocked(who); !quota.ok()) {
        over_quota = true;
        return quota;
      }
      DROVER_RETURN_IF_ERROR(RootWorkersAllowedLocked(parsed->spec.consumer));
      Result<JobId> submitted = model_.Submit(*parsed, req.body, who, Now(), batch);
      if (!submitted.ok()) return submitted.status();
      id = *submitted;
      Trigger();
      return Status::Ok();
    });
    if (over_quota) return Reply(res, 429, {{"error", st.message()}});
    if (!st.ok()) return Fail(res, st);
    Reply(res, 201, {{"id", id}, {"state", api::Name(kPending)}});
  });

  router.Get("/api/v1/jobs", kPeople, [this](const Principal& who, const httplib::Request& req,
                                             httplib::Response& res) {
    std::optional<JobState> state;
    std::string consumer = req.get_param_value("consumer"), user = req.get_param_value("user");
    if (req.has_param("state")) {
      Result<JobState> s = StateFilter(req.get_param_value("state"));
      if (!s.ok()) return Fail(res, s.status());
      state = *s;
    }
    auto limit = IntParam(req, "limit");
    auto after = IntParam(req, "after");
    auto before = IntParam(req, "before");
    if (!limit.ok()) return Fail(res, limit.status());
    if (!after.ok()) return Fail(res, after.status());
    if (!before.ok()) return Fail(res, before.status());
    const std::string order = req.has_param("order") ? req.get_param_value("order") : "oldest";
    if (order != "oldest" && order != "newest") {
      return Fail(res, InvalidArgument("order: \"" + order + "\" is not oldest or newest"));
    }
    const bool newest = order == "newest";
    if ((newest && *after) || (!newest && *before)) {
      return Fail(res, InvalidArgument(newest ? "after: goes with order=oldest; page newest-first with before"
                                              : "before: goes with order=newest; page oldest-first with after"));
    }
    std::lock_guard<std::mutex> lock(mu_);
    if (!consumer.empty() && model_.plan().Find(consumer) < 0) {
      return Fail(res, NotFound("consumer: " + consumer + " does not exist; `drover consumers` lists them"));
    }
    // A page of `n` jobs past the cursor, in either order; `next` is the
    // cursor of the page after it. `total` counts every job the filters match.
    const JobId cursor = static_cast<JobId>(std::max<int64_t>(newest ? before->value_or(0) : after->value_or(0), 0));
    json jobs = json::array();
    JobId last = 0;
    int64_t total = 0;
    const int64_t n = std::clamp<int64_t>(limit->value_or(100), 1, 1000);
    auto visit = [&](JobId id, const Job& j) {
      if (!MayUse(who, j.rec.consumer) || (state && j.rec.state != *state) ||
          (!consumer.empty() && !PathWithin(j.rec.consumer, consumer)) || (!user.empty() && j.rec.user != user)) {
        return;
      }
      ++total;
      const bool past_cursor = newest ? (!cursor || id < cursor) : id > cursor;
      if (!past_cursor) return;
      if (static_cast<int64_t>(jobs.size()) < n) {
        jobs.push_back(JobSummary(j, model_));
      } else if (!last) {
        last = jobs.back()["id"];
      }
    };
    if (newest) {
      for (auto it = model_.jobs().rbegin(); it != model_.jobs().rend(); ++it) visit(it->first, it->second);
    } else {
      for (const auto& [id, j] : model_.jobs()) visit(id, j);
    }
    json out = {{"jobs", jobs}, {"total", total}};
    if (last) out["next"] = last;
    Reply(res, 200, out);
  });

  router.Get("/api/v1/jobs/{id}", kJobReaders, [this](const Principal& who, const httplib::Request& req,
                                                      httplib::Response& res) {
    json out;
    JobId id = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      const Job* j = VisibleJob(who, req);
      if (!j) return Fail(res, NoSuchJob(req));
      id = j->rec.id;
      out = JobSummary(*j, model_);
      out["command"] = j->rec.argv;
      out["resources"] = ResourcesJson(j->rec.per_worker);
      out["restarts"] = j->rec.restarts;
      out["max_restarts"] = j->rec.max_restarts;
      out["failures"] = j->rec.failures;
      out["failed_rank"] = j->rec.failed_rank >= 0 ? json(j->rec.failed_rank) : json();
      double backoff = j->rec.workers.rigid() ? 0 : BackoffUntil(j->rec);
      out["backoff_until"] = backoff > Now() ? json(backoff) : json();
      out["attained_gpu_seconds"] = j->rec.attained_service;
      json workers = json::array();
      for (const auto& w : j->workers) {
        workers.push_back({{"rank", w.rank}, {"host", w.host}, {"gpus", w.gpus}, {"pid", w.pid},
                           {"state", api::Name(w.state)}, {"generation", w.generation}});
      }
      out["worker_list"] = workers;
      out["reported_world_size"] = OrNull(j->rec.progress.world_size);
      out["profile"] = ProfileJson(*j, model_);
      json rescales = json::array();
      for (const Rescale& r : j->rec.rescales) {
        rescales.push_back({{"time", r.time}, {"from", r.from}, {"to", r.to}, {"pause_ms", OrNull(r.pause_ms)}});
      }
      out["rescales"] = rescales;
    }
    auto events = store_->Events(id, 200);
    json ev = json::array();
    if (events.ok()) {
      for (const auto& e : *events) ev.push_back({{"time", e.time}, {"type", e.type}, {"message", e.message}});
    }
    out["events"] = ev;
    Reply(res, 200, out);
  });

  router.Post("/api/v1/jobs/{id}/cancel", kPeople, [this](const Principal& who, const httplib::Request& req,
                                                          httplib::Response& res) {
    JobId id = 0;
    Status st = Mutate([&](store::WriteBatch* batch) -> Status {
      const Job* j = VisibleJob(who, req);
      if (!j || !MayUse(who, j->rec.consumer)) return NoSuchJob(req);
      id = j->rec.id;
      DROVER_RETURN_IF_ERROR(model_.Cancel(id, "cancelled by " + who.name, Now(), batch));
      Trigger();
      return Status::Ok();
    });
    if (!st.ok()) return Fail(res, st);
    Reply(res, 200, {{"id", id}, {"state", api::Name(kCancelled)}});
  });

  router.Patch("/api/v1/jobs/{id}", kPeople, [this](const Principal& who, const httplib::Request& req,
                                                    httplib::Response& res) {
    json body = json::parse(req.body, nullptr, false);
    if (body.is_discarded() || !body.is_object()) return Fail(res, InvalidArgument("body: expected a JSON object"));
    std::optional<int> priority;
    std::optional<WorkerBounds> bounds;
    if (body.contains("priority")) {  // the spec parser's limits, so no change can exceed them
      Result<int> p = BoundedInt(body["priority"], "priority", -kMaxPriority, kMaxPriority);
      if (!p.ok()) return Fail(res, p.status());
      priority = *p;
    }
    if (body.contains("workers")) {
      const json& w = body["workers"];
      if (!w.is_object() || !w.contains("min") || !w.contains("max")) {
        return Fail(res, InvalidArgument("workers: expected {\"min\": N, \"max\": M}"));
      }
      Result<int> min = BoundedInt(w["min"], "workers.min", 1, kMaxWorkers);
      if (!min.ok()) return Fail(res, min.status());
      Result<int> max = BoundedInt(w["max"], "workers.max", 1, kMaxWorkers);
      if (!max.ok()) return Fail(res, max.status());
      bounds = WorkerBounds{*min, *max};
    }
    JobId id = 0;
    Status st = Mutate([&](store::WriteBatch* batch) -> Status {
      const Job* j = VisibleJob(who, req);
      if (!j || !MayUse(who, j->rec.consumer)) return NoSuchJob(req);
      id = j->rec.id;
      DROVER_RETURN_IF_ERROR(model_.Update(id, priority, bounds, Now(), batch));
      Trigger();
      return Status::Ok();
    });
    if (!st.ok()) return Fail(res, st);
    Reply(res, 200, {{"id", id}});
  });
}

}  // namespace drover::server

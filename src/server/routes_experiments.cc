// Experiments: submit, list, show, trials, stop; and jobs' metric reports
// (POSTed by a job's workers, or read by anyone who may see the job).
#include <algorithm>

#include <httplib.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "server/http_util.h"
#include "server/server.h"

namespace drover::server {
namespace {

using json = nlohmann::json;

json ParamsJson(const ExperimentSpec& spec, const std::vector<double>& config) {
  json p = json::object();
  for (int i = 0; i < spec.search.space.size(); ++i) p[spec.search.space.params()[i].name] = spec.search.space.Text(config, i);
  return p;
}

}  // namespace

ExperimentBook::Hooks Server::ExperimentHooksLocked() {
  ExperimentBook::Hooks h;
  h.job_state = [this](JobId id) { return JobStateLocked(id); };
  h.submit = [this](const ExperimentBook::Experiment& e, const ParsedJob& job, const std::string& yaml,
                    store::WriteBatch* batch) -> Result<JobId> {
    // The trial runs as the experiment's user, with their rights as they are now.
    Result<Principal> who = UserLocked(e.rec.user);
    if (!who.ok()) return who.status();
    DROVER_RETURN_IF_ERROR(JobQuotaLocked(*who));  // trials count, as jobs submitted by hand do
    DROVER_RETURN_IF_ERROR(RootWorkersAllowedLocked(job.spec.consumer));
    return model_.Submit(job, yaml, *who, Now(), batch);
  };
  h.set_priority = [this](JobId id, int priority, store::WriteBatch* batch) {
    const Job* j = model_.FindJob(id);
    if (j && !IsTerminal(j->rec.state)) (void)model_.Update(id, priority, std::nullopt, Now(), batch);
  };
  h.cancel = [this](JobId id, const std::string& why, store::WriteBatch* batch) { CancelLocked(id, why, batch); };
  return h;
}

void Server::ScanMetricsLocked(const std::vector<api::LogChunk>& logs, double now, store::WriteBatch* batch) {
  bool added = false;
  for (const api::LogChunk& c : logs) {
    if (c.key.rank != 0 || c.data.empty()) continue;
    const JobId job = c.key.job;
    // The start of the line this chunk continues: kept from the last chunk, or
    // (after a restart, or a chunk sent again) read back from the stored output.
    std::string prefix;
    auto tail = metric_tail_.find(job);
    if (tail != metric_tail_.end() && tail->second.first == c.offset) {
      prefix = tail->second.second;
    } else if (c.offset > 0) {
      const uint64_t from = c.offset > 4096 ? c.offset - 4096 : 0;
      std::string before = logs_->Read(job, 0, from, std::chrono::milliseconds(0), c.offset - from);
      size_t nl = before.rfind('\n');
      prefix = nl == std::string::npos ? (from == 0 ? before : std::string("\x01")) : before.substr(nl + 1);
    }
    const int64_t scanned = experiments_.ScannedTo(job);
    for (const MetricLine& line : MetricLines(prefix, c.data, static_cast<int64_t>(c.offset))) {
      if (line.end <= scanned) continue;  // counted already (a chunk sent twice)
      Result<json> values = ParseMetricValues(line.json);
      if (!values.ok()) {
        spdlog::debug("job {}: a drover-metric line is not metrics: {}", job, values.status().message());
        continue;
      }
      if (experiments_.AddMetric(job, std::move(values).value(), line.end, now, batch).ok()) added = true;
    }
    size_t nl = c.data.rfind('\n');
    std::string rest = nl == std::string::npos ? prefix + c.data : c.data.substr(nl + 1);
    if (rest.size() > 4096) rest = "\x01";  // too long for a metric line
    metric_tail_[job] = {c.offset + c.data.size(), std::move(rest)};
  }
  if (added) Trigger();
}

void Server::ExperimentRoutes(Router& router) {
  router.Post("/api/v1/experiments", kPeople, [this](const Principal& who, const httplib::Request& req,
                                                     httplib::Response& res) {
    Result<ExperimentSpec> spec = ParseExperimentSpec(req.body, FileLabel(req, "experiment.yaml"));
    if (!spec.ok()) return Fail(res, spec.status());
    int64_t id = 0;
    bool over_quota = false;
    Status st = Mutate([&](store::WriteBatch* batch) -> Status {
      Result<std::string> resolved = model_.ResolveConsumer(who, spec->consumer);
      if (!resolved.ok()) return resolved.status();
      const std::string& consumer = *resolved;
      DROVER_RETURN_IF_ERROR(RootWorkersAllowedLocked(consumer));
      if (who.role != Role::kAdmin) {
        const int running = experiments_.Running(who.name);
        if (running >= opt_.max_active_jobs_per_user) {
          over_quota = true;
          return FailedPrecondition("user " + who.name + " already has " + std::to_string(running) +
                                    " experiments running, the most one user may have; stop some first");
        }
      }
      spec->consumer = consumer;
      store::ExperimentRecord rec;
      rec.name = spec->name;
      rec.consumer = consumer;
      rec.user = who.name;
      rec.spec_yaml = req.body;
      rec.created = Now();
      Result<int64_t> made = experiments_.Create(std::move(rec), *spec, batch);
      if (!made.ok()) return made.status();
      id = *made;
      Trigger();
      return Status::Ok();
    });
    if (over_quota) return Reply(res, 429, {{"error", st.message()}});
    if (!st.ok()) return Fail(res, st);
    spdlog::info("experiment {} ({}) submitted by {}", id, spec->name, who.name);
    Reply(res, 201, {{"id", id}, {"name", spec->name}, {"state", "RUNNING"}});
  });

  // A summary of an experiment, and with `detail` its trials (with curves if `curves`).
  auto describe = [this](const ExperimentBook::Experiment& e, bool detail, bool curves) {
    const ExperimentSpec& s = e.spec;
    json out = {{"id", e.rec.id},           {"name", e.rec.name},        {"consumer", e.rec.consumer},
                {"user", e.rec.user},       {"state", e.rec.state},      {"reason", e.rec.reason},
                {"created", e.rec.created}, {"ended", e.rec.ended},      {"algorithm", s.algorithm},
                {"sampler", s.search.sampler},     {"early_stopping", s.search.early_stopping},
                {"metric", s.search.metric},       {"goal", s.search.maximize ? "maximize" : "minimize"},
                {"max_trials", s.search.max_trials}, {"max_parallel", s.search.max_parallel}};
    int running = 0;
    json trials = json::array();
    for (const store::TrialRecord& t : e.rec.trials) {
      running += t.state == "RUNNING";
      if (!detail) continue;
      auto curve = experiments_.Curve(e, t.job);
      json row = {{"index", t.index}, {"job", t.job}, {"params", ParamsJson(s, t.config)}, {"state", t.state},
                  {"reason", t.reason}, {"bracket", t.bracket}, {"rung", t.rung},
                  {"reports", curve.size()}};
      if (!curve.empty()) {
        row["latest"] = curve.back().second;
        row["resource"] = curve.back().first;
        double b = curve.front().second;
        for (const auto& p : curve) b = s.search.maximize ? std::max(b, p.second) : std::min(b, p.second);
        row["best"] = b;
      }
      // A trial whose job waits (queued, or preempted for the plan) says why.
      if (const Job* j = model_.FindJob(t.job); j && t.state == "RUNNING" &&
          (j->rec.state == api::JobState::kPending || j->rec.state == api::JobState::kPreempted)) {
        std::string why = model_.PendingReason(t.job);
        row["pending_reason"] = why.empty() ? j->rec.reason : why;
      }
      if (curves) {
        json pts = json::array();
        for (const auto& [r, v] : curve) pts.push_back({r, v});
        row["curve"] = pts;
      }
      trials.push_back(row);
    }
    out["trials_started"] = e.rec.trials.size();
    out["trials_running"] = running;
    const std::optional<int> best = experiments_.Best(e);
    out["best"] = best ? json{{"trial", *best},
                              {"value", experiments_.Curve(e, e.rec.trials[static_cast<size_t>(*best)].job).back().second}}
                       : json(nullptr);
    if (detail) {
      out["trials"] = trials;
      out["parameters"] = json::array();
      for (const hpo::Param& p : s.search.space.params()) out["parameters"].push_back({{"name", p.name}, {"type", hpo::Name(p.type)}});
    }
    return out;
  };

  router.Get("/api/v1/experiments", kPeople, [this, describe](const Principal& who, const httplib::Request&,
                                                              httplib::Response& res) {
    std::lock_guard<std::mutex> lock(mu_);
    json list = json::array();
    for (const auto& [id, e] : experiments_.all()) {
      if (MayUse(who, e.rec.consumer)) list.push_back(describe(e, false, false));
    }
    Reply(res, 200, {{"experiments", list}});
  });

  for (bool curves : {false, true}) {
    router.Get(curves ? "/api/v1/experiments/{id}/trials" : "/api/v1/experiments/{id}", kPeople,
               [this, describe, curves](const Principal& who, const httplib::Request& req, httplib::Response& res) {
      std::lock_guard<std::mutex> lock(mu_);
      auto id = PathNumber(req, 1);
      const ExperimentBook::Experiment* e = id ? experiments_.Find(static_cast<int64_t>(*id)) : nullptr;
      if (!e || !MayUse(who, e->rec.consumer)) return Fail(res, NotFound("experiment " + req.matches[1].str() + " does not exist"));
      Reply(res, 200, describe(*e, true, curves));
    });
  }

  router.Post("/api/v1/experiments/{id}/stop", kPeople, [this](const Principal& who, const httplib::Request& req,
                                                               httplib::Response& res) {
    auto id = PathNumber(req, 1);
    Status st = Mutate([&](store::WriteBatch* batch) -> Status {
      const ExperimentBook::Experiment* e = id ? experiments_.Find(static_cast<int64_t>(*id)) : nullptr;
      if (!e || !MayUse(who, e->rec.consumer)) return NotFound("experiment " + req.matches[1].str() + " does not exist");
      DROVER_RETURN_IF_ERROR(experiments_.Stop(e->rec.id, "stopped by " + who.name, Now(), ExperimentHooksLocked(), batch));
      Trigger();
      return Status::Ok();
    });
    if (!st.ok()) return Fail(res, st);
    Reply(res, 200, {{"id", *id}, {"state", "STOPPED"}});
  });

  // A job's metrics: posted by its workers (or whoever may act on it), read by whoever may see it.
  router.Post("/api/v1/jobs/{id}/metrics", kJobReaders, [this](const Principal& who, const httplib::Request& req,
                                                              httplib::Response& res) {
    Result<json> values = ParseMetricValues(req.body);
    if (!values.ok()) return Fail(res, values.status());
    int64_t seq = 0;
    Status st = Mutate([&](store::WriteBatch* batch) -> Status {
      const Job* j = VisibleJob(who, req);
      if (!j) return NoSuchJob(req);
      if (who.role != Role::kWorker && !MayUse(who, j->rec.consumer)) return NoSuchJob(req);
      if (IsTerminal(j->rec.state)) return FailedPrecondition("job " + std::to_string(j->rec.id) + " has ended");
      DROVER_RETURN_IF_ERROR(experiments_.AddMetric(j->rec.id, *values, 0, Now(), batch));
      seq = static_cast<int64_t>(experiments_.Metrics(j->rec.id)->size());
      Trigger();
      return Status::Ok();
    });
    if (!st.ok()) return Fail(res, st);
    Reply(res, 201, {{"seq", seq}});
  });
  router.Get("/api/v1/jobs/{id}/metrics", kJobReaders, [this](const Principal& who, const httplib::Request& req,
                                                             httplib::Response& res) {
    std::lock_guard<std::mutex> lock(mu_);
    const Job* j = VisibleJob(who, req);
    if (!j) return Fail(res, NoSuchJob(req));
    json list = json::array();
    if (const auto* metrics = experiments_.Metrics(j->rec.id)) {
      for (const ExperimentBook::Report& m : *metrics) {
        list.push_back({{"seq", m.rec.seq}, {"time", m.rec.time}, {"values", m.values}});
      }
    }
    Reply(res, 200, {{"job", j->rec.id}, {"metrics", list}});
  });
}

}  // namespace drover::server

#include "server/experiments.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace drover::server {
namespace {

constexpr const char* kPrefix = "drover-metric ";
constexpr size_t kMaxMetricLine = 4096;

hpo::TrialState TrialStateOf(const std::string& s) {
  if (s == "SUCCEEDED") return hpo::TrialState::kSucceeded;
  if (s == "STOPPED") return hpo::TrialState::kStopped;
  if (s == "FAILED") return hpo::TrialState::kFailed;
  return hpo::TrialState::kRunning;
}

}  // namespace

Result<nlohmann::json> ParseMetricValues(const std::string& text) {
  nlohmann::json v = nlohmann::json::parse(text, nullptr, false);
  if (v.is_discarded() || !v.is_object()) return InvalidArgument("metrics: expected a JSON object of numbers");
  if (v.empty()) return InvalidArgument("metrics: the object is empty");
  if (v.size() > kMaxMetricValues) {
    return InvalidArgument("metrics: more than " + std::to_string(kMaxMetricValues) + " values");
  }
  for (const auto& [name, value] : v.items()) {
    if (name.empty() || name.size() > 64) return InvalidArgument("metrics: a name must be 1 to 64 characters");
    if (!value.is_number() || !std::isfinite(value.get<double>())) {
      return InvalidArgument("metrics." + name + ": expected a finite number");
    }
  }
  return v;
}

std::vector<MetricLine> MetricLines(const std::string& prefix, const std::string& data, int64_t offset) {
  std::vector<MetricLine> out;
  size_t start = 0;
  std::string head = prefix;
  for (size_t nl; start < data.size() && (nl = data.find('\n', start)) != std::string::npos; start = nl + 1) {
    std::string line = head + data.substr(start, nl - start);
    head.clear();
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.rfind(kPrefix, 0) == 0 && line.size() <= kMaxMetricLine) {
      out.push_back({line.substr(std::strlen(kPrefix)), offset + static_cast<int64_t>(nl) + 1});
    }
  }
  return out;
}

Status ExperimentBook::Load(const store::Snapshot& snap) {
  std::map<int64_t, Experiment> experiments;
  for (const store::ExperimentRecord& rec : snap.experiments) {
    Result<ExperimentSpec> spec = ParseExperimentSpec(rec.spec_yaml, "experiment " + std::to_string(rec.id));
    if (!spec.ok()) return Internal("stored experiment " + std::to_string(rec.id) + " does not parse: " + spec.status().message());
    spec->consumer = rec.consumer;
    auto controller = hpo::Controller::Make(spec->search);
    if (!controller.ok()) return Internal("stored experiment " + std::to_string(rec.id) + ": " + controller.status().message());
    experiments[rec.id] = Experiment{rec, std::move(spec).value(), std::move(controller).value()};
  }
  std::map<JobId, std::vector<Report>> reports;
  std::map<JobId, int64_t> scanned_to;
  for (const store::MetricRecord& m : snap.metrics) {
    nlohmann::json v = nlohmann::json::parse(m.values_json, nullptr, false);
    reports[m.job].push_back({m, v.is_object() ? v : nlohmann::json::object()});
    scanned_to[m.job] = std::max(scanned_to[m.job], m.log_end);
  }
  experiments_ = std::move(experiments);
  reports_ = std::move(reports);
  scanned_to_ = std::move(scanned_to);
  return Status::Ok();
}

Result<int64_t> ExperimentBook::Create(store::ExperimentRecord rec, ExperimentSpec spec, store::WriteBatch* batch) {
  auto controller = hpo::Controller::Make(spec.search);
  if (!controller.ok()) return controller.status();
  rec.id = experiments_.empty() ? 1 : experiments_.rbegin()->first + 1;
  rec.state = "RUNNING";
  batch->experiments.push_back(rec);
  const int64_t id = rec.id;
  experiments_[id] = Experiment{std::move(rec), std::move(spec), std::move(controller).value()};
  return id;
}

const ExperimentBook::Experiment* ExperimentBook::Find(int64_t id) const {
  auto it = experiments_.find(id);
  return it == experiments_.end() ? nullptr : &it->second;
}

int ExperimentBook::Running(const std::string& user) const {
  int n = 0;
  for (const auto& [id, e] : experiments_) n += e.rec.user == user && e.rec.state == "RUNNING";
  return n;
}

int64_t ExperimentBook::ScannedTo(JobId job) const {
  auto it = scanned_to_.find(job);
  return it == scanned_to_.end() ? 0 : it->second;
}

Status ExperimentBook::AddMetric(JobId job, nlohmann::json values, int64_t log_end, double now,
                                 store::WriteBatch* batch) {
  std::vector<Report>& list = reports_[job];
  if (list.size() >= kMaxMetricsPerJob) {
    return Status(StatusCode::kResourceExhausted, "job " + std::to_string(job) + " has reported " +
                                                      std::to_string(kMaxMetricsPerJob) +
                                                      " metrics, the most kept; report less often");
  }
  store::MetricRecord m{job, static_cast<int64_t>(list.size()) + 1, now, values.dump(), log_end};
  batch->metrics.push_back(m);
  list.push_back({std::move(m), std::move(values)});
  scanned_to_[job] = std::max(scanned_to_[job], log_end);
  return Status::Ok();
}

const std::vector<ExperimentBook::Report>* ExperimentBook::Metrics(JobId job) const {
  auto it = reports_.find(job);
  return it == reports_.end() ? nullptr : &it->second;
}

std::vector<std::pair<double, double>> ExperimentBook::Curve(const Experiment& e, JobId job) const {
  std::vector<std::pair<double, double>> curve;
  auto it = reports_.find(job);
  if (it == reports_.end()) return curve;
  const std::string name = e.spec.has_resource ? e.spec.search.stopping.resource : "";
  const std::string singular = !name.empty() && name.back() == 's' ? name.substr(0, name.size() - 1) : name;
  int n = 0;
  for (const Report& report : it->second) {
    const nlohmann::json& v = report.values;
    ++n;
    if (!v.contains(e.spec.search.metric)) continue;
    double r = n;
    for (const std::string& key : {name, singular, std::string("epoch"), std::string("step")}) {
      if (!key.empty() && v.contains(key)) {
        r = v[key].get<double>();
        break;
      }
    }
    curve.push_back({r, v[e.spec.search.metric].get<double>()});
  }
  return curve;
}

std::vector<hpo::TrialView> ExperimentBook::Views(const Experiment& e) const {
  std::vector<hpo::TrialView> views;
  for (const store::TrialRecord& t : e.rec.trials) {
    views.push_back({t.index, t.config, t.bracket, TrialStateOf(t.state), Curve(e, t.job), t.rung});
  }
  return views;
}

void ExperimentBook::Finish(Experiment& e, const std::string& state, const std::string& why, double now,
                            const Hooks& hooks, store::WriteBatch* batch) {
  for (store::TrialRecord& t : e.rec.trials) {
    if (t.state != "RUNNING") continue;
    t.state = "STOPPED";
    t.reason = why;
    hooks.cancel(t.job, "experiment " + e.rec.name + ": " + why, batch);
  }
  e.rec.state = state;
  e.rec.reason = why;
  e.rec.ended = now;
}

int ExperimentBook::Advance(double now, const Hooks& hooks, store::WriteBatch* batch) {
  int changed = 0;
  for (auto& [id, e] : experiments_) {
    if (e.rec.state != "RUNNING") continue;
    bool dirty = false;
    // Trials whose jobs ended.
    for (store::TrialRecord& t : e.rec.trials) {
      if (t.state != "RUNNING") continue;
      auto job = hooks.job_state(t.job);
      if (!job) {
        t.state = "FAILED";
        t.reason = "its job " + std::to_string(t.job) + " is gone";
      } else if (job->first == api::JobState::kSucceeded) {
        bool reported = !Curve(e, t.job).empty();
        t.state = reported ? "SUCCEEDED" : "FAILED";
        t.reason = reported ? "" : "exited 0 but reported no " + e.spec.search.metric +
                                       " (print `drover-metric {\"" + e.spec.search.metric + "\": ...}` lines)";
      } else if (job->first == api::JobState::kFailed) {
        t.state = "FAILED";
        t.reason = job->second;
      } else if (job->first == api::JobState::kCancelled) {
        t.state = "STOPPED";
        t.reason = job->second.empty() ? "its job was cancelled" : job->second;
      } else {
        continue;
      }
      dirty = true;
    }
    std::vector<hpo::Action> actions = e.controller->Advance(Views(e), now - e.rec.created);
    for (const hpo::Action& a : actions) {
      dirty = true;
      if (a.kind == hpo::Action::Kind::kRung) {
        store::TrialRecord& t = e.rec.trials[static_cast<size_t>(a.trial)];
        t.rung = a.rung;
        // Promoted: above the trials still at lower rungs, so an elastic one grows first.
        hooks.set_priority(t.job, e.spec.trial.spec.priority + a.rung + 1, batch);
      } else if (a.kind == hpo::Action::Kind::kStop) {
        store::TrialRecord& t = e.rec.trials[static_cast<size_t>(a.trial)];
        t.state = "STOPPED";
        t.reason = a.reason;
        hooks.cancel(t.job, "trial " + std::to_string(a.trial) + " " + a.reason, batch);
      } else if (a.kind == hpo::Action::Kind::kStart) {
        std::string yaml;
        ParsedJob job = TrialJob(e.spec, a.config, a.trial, &yaml);
        Result<JobId> submitted = hooks.submit(e, job, yaml, batch);
        if (!submitted.ok()) {
          Finish(e, "FAILED", "trial " + std::to_string(a.trial) + " could not be submitted: " +
                                  submitted.status().message(), now, hooks, batch);
          break;
        }
        e.rec.trials.push_back({a.trial, *submitted, a.config, a.bracket, "RUNNING", ""});
      } else {
        Finish(e, a.failed ? "FAILED" : "SUCCEEDED", a.reason, now, hooks, batch);
      }
    }
    if (dirty) {
      batch->experiments.push_back(e.rec);
      ++changed;
    }
  }
  return changed;
}

Status ExperimentBook::Stop(int64_t id, const std::string& why, double now, const Hooks& hooks,
                            store::WriteBatch* batch) {
  auto it = experiments_.find(id);
  if (it == experiments_.end()) return NotFound("experiment " + std::to_string(id) + " does not exist");
  Experiment& e = it->second;
  if (e.rec.state != "RUNNING") {
    return FailedPrecondition("experiment " + std::to_string(id) + " has already ended (" + e.rec.state + ")");
  }
  Finish(e, "STOPPED", why, now, hooks, batch);
  batch->experiments.push_back(e.rec);
  return Status::Ok();
}

}  // namespace drover::server

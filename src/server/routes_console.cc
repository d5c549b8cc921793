// The web console: its files, served at / without a token (they hold no
// data: every number a page shows comes from the API, with the token the
// user signs in with, so a page sees exactly what that token may), and the
// history its charts draw, which the scheduler loop samples (history.h).
#include <algorithm>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "server/console_assets.h"
#include "server/http_util.h"
#include "server/server.h"

namespace drover::server {

using json = nlohmann::json;

namespace {

std::string ContentType(std::string_view name) {
  auto ends = [&](std::string_view ext) {
    return name.size() >= ext.size() && name.substr(name.size() - ext.size()) == ext;
  };
  if (ends(".html")) return "text/html; charset=utf-8";
  if (ends(".js")) return "text/javascript; charset=utf-8";
  if (ends(".css")) return "text/css; charset=utf-8";
  return "application/octet-stream";
}

// The page may load only its own files and call only its own server; it may
// not be framed (clickjacking) nor have its type guessed.
void ConsoleHeaders(httplib::Response& res) {
  res.set_header("Content-Security-Policy",
                 "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
                 "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_header("X-Frame-Options", "DENY");
  res.set_header("Referrer-Policy", "no-referrer");
}

constexpr int kMaxPoints = 5000;  // per read: 6 h of samples at 10 s is 2160

}  // namespace

void Server::ConsoleRoutes(Router& router) {
  // The router tags every full GET answer and answers 304 to a tag that still holds.
  auto serve = [](const std::string& name, httplib::Response& res) {
    const auto& all = ConsoleAssets();
    auto it = std::find_if(all.begin(), all.end(), [&](const ConsoleAsset& a) { return a.name == name; });
    if (it == all.end()) return Reply(res, 404, {{"error", "no such console file: " + name}});
    ConsoleHeaders(res);
    res.status = 200;
    res.set_content(std::string(it->bytes), ContentType(it->name));
  };
  router.Open("GET", "/", [serve](const httplib::Request&, httplib::Response& res) { serve("index.html", res); });
  router.Open("GET", "/assets/{file}", [serve](const httplib::Request& req, httplib::Response& res) {
    serve(req.matches[1].str(), res);
  });

  // -- history: ?since=UNIX_SECONDS (default: an hour ago) ----------------------
  // Answers the series from the store at the resolution that reaches back to
  // `since`; the caller has already checked who may read it.
  auto answer = [this](const std::string& series, const httplib::Request& req, httplib::Response& res) {
    auto since = IntParam(req, "since");
    if (!since.ok()) return Fail(res, since.status());
    const double now = Now();
    const double from = since->has_value() ? static_cast<double>(**since) : now - 3600;
    const double resolution = history_.Resolution(from, now);
    auto rows = store_->Samples(series, resolution, from, kMaxPoints);
    if (!rows.ok()) return Fail(res, rows.status());
    json points = json::array();
    for (const store::SampleRecord& r : *rows) {
      json p(r.values);
      p["time"] = r.time;
      points.push_back(std::move(p));
    }
    Reply(res, 200, {{"series", series}, {"resolution", resolution}, {"since", from}, {"points", points}});
  };
  router.Get("/api/v1/history/cluster", kPeople,
             [answer](const Principal&, const httplib::Request& req, httplib::Response& res) {
               answer("cluster", req, res);
             });
  // Everybody signed in sees the whole consumer tree (as GET /consumers).
  router.Get("/api/v1/history/consumers", kPeople,
             [answer](const Principal&, const httplib::Request& req, httplib::Response& res) {
               answer("consumers", req, res);
             });
  router.Get("/api/v1/jobs/{id}/history", kJobReaders,
             [this, answer](const Principal& who, const httplib::Request& req, httplib::Response& res) {
               JobId id = 0;
               {
                 std::lock_guard<std::mutex> lock(mu_);
                 const Job* j = VisibleJob(who, req);
                 if (!j) return Fail(res, NoSuchJob(req));
                 id = j->rec.id;
               }
               answer("job:" + std::to_string(id), req, res);
             });
  router.Get("/api/v1/deployments/{name}/history", kPeople,
             [this, answer](const Principal& who, const httplib::Request& req, httplib::Response& res) {
               const std::string name = req.matches[1].str();
               {
                 std::lock_guard<std::mutex> lock(mu_);
                 const DeploymentBook::Deployment* d = deployments_.Find(name);
                 if (!d || d->rec.state == "REMOVED" || !MayUse(who, d->rec.consumer)) {
                   return Fail(res, NotFound("deployment " + name + " does not exist"));
                 }
               }
               answer("deployment:" + name, req, res);
             });
}

std::map<std::string, History::Values> Server::SampleLocked() const {
  std::map<std::string, History::Values> out;
  History::Values& cluster = out["cluster"];
  double up = 0, down = 0, gpus = 0, used = 0, running = 0, pending = 0;
  for (const auto& [name, h] : model_.hosts()) {
    (h.rec.state == "up" ? up : down) += 1;
    if (h.rec.state == "up") gpus += h.rec.capacity.gpus;
  }
  for (const auto& [host, n] : model_.GpusInUse()) used += n;
  for (const auto& [id, j] : model_.jobs()) {
    if (j.rec.state == api::JobState::kPending || j.rec.state == api::JobState::kPreempted) ++pending;
    if (j.rec.state == api::JobState::kRunning || j.rec.state == api::JobState::kStarting) ++running;
    if (j.rec.state != api::JobState::kRunning) continue;
    History::Values& v = out["job:" + std::to_string(id)];
    v["workers"] = static_cast<double>(j.workers.size());
    const store::ProgressRecord& p = j.rec.progress;
    if (p.step) v["step"] = static_cast<double>(*p.step);
    if (p.loss) v["loss"] = *p.loss;
    if (p.samples_per_s) v["samples_per_s"] = *p.samples_per_s;
  }
  cluster = {{"hosts_up", up}, {"hosts_down", down}, {"gpus", gpus}, {"gpus_used", used},
             {"jobs_running", running}, {"jobs_pending", pending}};
  History::Values& consumers = out["consumers"];
  const ConsumerTree& t = model_.plan();
  const auto& usage = model_.usage();
  for (int c = 1; c < t.size() && c < static_cast<int>(usage.size()); ++c) {
    const std::string& path = t.node(c).path;
    consumers["allocated:" + path] = static_cast<double>(usage[c].allocated);
    consumers["entitlement:" + path] = static_cast<double>(usage[c].entitlement);
    consumers["owned:" + path] = static_cast<double>(t.node(c).plan.owned);
  }
  for (const auto& [name, d] : deployments_.all()) {
    if (d.rec.state != "ACTIVE") continue;
    const serve::ModelLoad load = inference_->Load(name);
    const serve::LatencySummary lat = inference_->Latency(name, std::chrono::seconds(60));
    History::Values& v = out["deployment:" + name];
    v = {{"replicas", static_cast<double>(load.replicas)}, {"desired", static_cast<double>(d.desired)},
         {"in_flight", static_cast<double>(load.in_flight)}, {"queued", static_cast<double>(load.held)},
         {"requests_per_s", lat.requests_per_s}};
    if (lat.count) {
      v["p50_ms"] = lat.p50_ms;
      v["p99_ms"] = lat.p99_ms;
    }
  }
  return out;
}

}  // namespace drover::server

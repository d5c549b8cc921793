// Deployments: create, list, show, undeploy; the hooks the deployment book
// reaches the model through; and the router's view of each deployment's
// ready replicas.
#include <algorithm>
#include <cmath>

#include <httplib.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "serve/oip.h"
#include "server/http_util.h"
#include "server/server.h"

namespace drover::server {

using json = nlohmann::json;

DeploymentBook::Hooks Server::DeploymentHooksLocked() {
  DeploymentBook::Hooks h;
  h.job_state = [this](JobId id) { return JobStateLocked(id); };
  h.submit = [this](const DeploymentBook::Deployment& d, store::WriteBatch* batch) -> Result<JobId> {
    const ParsedJob job = ReplicaJob(d.spec, opt_.serve_binary);
    // The replicas run as the deployment's owner, with their rights as they are now.
    Result<Principal> who = UserLocked(d.rec.owner);
    if (!who.ok()) return who.status();
    DROVER_RETURN_IF_ERROR(RootWorkersAllowedLocked(job.spec.consumer));
    return model_.Submit(job, JobSpecYaml(job), *who, Now(), batch);
  };
  h.cancel = [this](JobId id, const std::string& why, store::WriteBatch* batch) { CancelLocked(id, why, batch); };
  h.load = [this](const std::string& model) { return inference_->Load(model); };
  return h;
}

namespace {
constexpr int kInferenceAuthCacheSeconds = 5;
constexpr size_t kInferenceAuthCacheSize = 4096;
}  // namespace

std::string Server::InferenceUrl(const std::string& name) const {
  const int port = inference_port_.load();
  if (port <= 0) return "";
  return std::string(opt_.tls_cert.empty() ? "http" : "https") + "://" + opt_.host + ":" + std::to_string(port) +
         "/v2/models/" + name;
}

// Who may call: the health probes, anyone; a model's routes, an admin or a
// user of the deployment's consumer subtree (a user token); others 401/403,
// and a deployment the caller may not use is answered as if it did not exist.
void Server::ServeInference(httplib::Request& req, httplib::Response& res) {
  inference_->Serve(req, res, [&](const std::string& model, const std::string& auth) -> std::optional<serve::RoutedAnswer> {
    std::optional<Principal> who;
    const std::string key = Sha256Hex(auth);
    const auto now = std::chrono::steady_clock::now();
    {
      std::lock_guard<std::mutex> lock(inference_acl_mu_);
      auto hit = inference_tokens_.find(key);
      if (hit != inference_tokens_.end() && hit->second.second > now) who = hit->second.first;
    }
    if (!who) {
      who = Authenticate(req);
      if (who) {
        std::lock_guard<std::mutex> lock(inference_acl_mu_);
        if (inference_tokens_.size() >= kInferenceAuthCacheSize) inference_tokens_.clear();
        inference_tokens_[key] = {*who, now + std::chrono::seconds(kInferenceAuthCacheSeconds)};
      }
    }
    if (!who) return serve::Refusal(401, "a user token is required (Authorization: Bearer ...)");
    if (who->role != Role::kAdmin && who->role != Role::kUser) return serve::Refusal(403, "only user tokens may call models");
    std::lock_guard<std::mutex> lock(inference_acl_mu_);
    auto it = inference_consumers_.find(model);
    if (it == inference_consumers_.end() || !MayUse(*who, it->second)) {
      return serve::Refusal(404, "no model \"" + model.substr(0, 80) + "\" is deployed");
    }
    return std::nullopt;
  });
}

void Server::RefreshRoutesLocked() {
  std::map<std::string, std::string> consumers;  // of the active deployments
  for (const auto& [name, d] : deployments_.all()) {
    if (d.rec.state != "ACTIVE") {
      inference_->RemoveModel(name);
      continue;
    }
    consumers[name] = d.rec.consumer;
    std::vector<serve::Endpoint> ready;
    if (const Job* j = d.rec.job ? model_.FindJob(d.rec.job) : nullptr) {
      // A replica takes requests once it runs, has said it is ready with its
      // port, and is still wanted: one being removed is left out at once.
      for (const store::WorkerRecord& w : j->workers) {
        if (w.state != WorkerState::kRunning) continue;
        const WorkerContact* c = j->Contact(w);
        const std::string address = model_.HostAddress(w.host);
        if (!c || !c->ready || c->port <= 0 || address.empty()) continue;
        ready.push_back({"job " + std::to_string(j->rec.id) + " rank " + std::to_string(w.rank) + " gen " +
                             std::to_string(w.generation),
                         address, c->port});
      }
    }
    inference_->SetModel(name, std::move(ready));
  }
  std::lock_guard<std::mutex> lock(inference_acl_mu_);
  inference_consumers_ = std::move(consumers);
}

void Server::DeploymentRoutes(Router& router) {
  router.Post("/api/v1/deployments", kPeople, [this](const Principal& who, const httplib::Request& req,
                                                     httplib::Response& res) {
    Result<DeploymentSpec> spec = ParseDeploymentSpec(req.body, FileLabel(req, "deployment.yaml"));
    if (!spec.ok()) return Fail(res, spec.status());
    Status st = Mutate([&](store::WriteBatch* batch) -> Status {
      Result<std::string> consumer = model_.ResolveConsumer(who, spec->consumer);
      if (!consumer.ok()) return consumer.status();
      DROVER_RETURN_IF_ERROR(RootWorkersAllowedLocked(*consumer));
      if (const auto* old = deployments_.Find(spec->name); old && old->rec.state == "ACTIVE" && !MayUse(who, old->rec.consumer)) {
        // Another tenant's deployment: say no more than that the name is taken.
        return AlreadyExists("the name " + spec->name + " is taken");
      }
      spec->consumer = *consumer;
      store::DeploymentRecord rec;
      rec.name = spec->name;
      rec.owner = who.name;
      rec.consumer = *consumer;
      rec.spec_yaml = req.body;
      rec.created = Now();
      DROVER_RETURN_IF_ERROR(deployments_.Create(std::move(rec), *spec, Now(), DeploymentHooksLocked(), batch));
      RefreshRoutesLocked();
      Trigger();
      return Status::Ok();
    });
    if (!st.ok()) return Fail(res, st);
    spdlog::info("deployment {} created by {}", spec->name, who.name);
    Reply(res, 201, {{"name", spec->name}, {"state", "ACTIVE"}, {"url", InferenceUrl(spec->name)}});
  });

  auto describe = [this](const DeploymentBook::Deployment& d, bool detail) {
    const DeploymentSpec& s = d.spec;
    const serve::ModelLoad load = inference_->Load(d.rec.name);
    const serve::LatencySummary lat = inference_->Latency(d.rec.name, std::chrono::seconds(60));
    json out = {{"name", d.rec.name},
                {"owner", d.rec.owner},
                {"consumer", d.rec.consumer},
                {"state", d.rec.state},
                {"reason", d.rec.reason},
                {"created", d.rec.created},
                {"job", d.rec.job ? json(d.rec.job) : json(nullptr)},
                {"model", s.model_path},
                {"url", InferenceUrl(d.rec.name)},
                {"replicas", {{"min", s.min_replicas}, {"max", s.max_replicas}, {"desired", d.desired},
                              {"ready", load.replicas}}},
                {"in_flight", load.in_flight},
                {"held", load.held},
                {"answered", load.answered},
                {"failed", load.failed},
                {"retried", load.retried},
                {"requests_per_s", lat.requests_per_s},
                {"p50_ms", lat.count ? json(lat.p50_ms) : json(nullptr)},
                {"p99_ms", lat.count ? json(lat.p99_ms) : json(nullptr)}};
    if (!detail) return out;
    json replicas = json::array();
    if (const Job* j = d.rec.job ? model_.FindJob(d.rec.job) : nullptr) {
      for (const store::WorkerRecord& w : j->workers) {
        const WorkerContact* c = j->Contact(w);
        replicas.push_back({{"rank", w.rank},
                            {"host", w.host},
                            {"address", model_.HostAddress(w.host)},
                            {"state", api::Name(w.state)},
                            {"ready", c && c->ready},
                            {"port", c && c->port ? json(c->port) : json(nullptr)}});
      }
      if (j->rec.state == api::JobState::kPending || j->rec.state == api::JobState::kPreempted) {
        std::string why = model_.PendingReason(j->rec.id);
        out["pending_reason"] = why.empty() ? j->rec.reason : why;
      }
    }
    out["replica_list"] = replicas;
    json events = json::array();
    for (const store::ScaleEventRecord& e : d.rec.events) {
      events.push_back({{"time", e.time}, {"from", e.from}, {"to", e.to}, {"reason", e.reason}});
    }
    out["events"] = events;
    out["batching"] = {{"max_batch_size", s.max_batch_size}, {"max_queue_delay_us", s.max_queue_delay_us},
                       {"max_queue", s.max_queue}};
    out["autoscale"] = {{"target_in_flight", s.target_in_flight}, {"upscale_delay_s", s.upscale_delay_ms / 1000.0},
                        {"downscale_delay_s", s.downscale_delay_ms / 1000.0},
                        {"scale_to_zero_after_s", s.scale_to_zero_after_ms / 1000.0}};
    return out;
  };

  router.Get("/api/v1/deployments", kPeople, [this, describe](const Principal& who, const httplib::Request&,
                                                              httplib::Response& res) {
    std::lock_guard<std::mutex> lock(mu_);
    json list = json::array();
    for (const auto& [name, d] : deployments_.all()) {
      if (d.rec.state != "REMOVED" && MayUse(who, d.rec.consumer)) list.push_back(describe(d, false));
    }
    Reply(res, 200, {{"deployments", list}});
  });

  router.Get("/api/v1/deployments/{name}", kPeople, [this, describe](const Principal& who, const httplib::Request& req,
                                                                     httplib::Response& res) {
    std::lock_guard<std::mutex> lock(mu_);
    const DeploymentBook::Deployment* d = deployments_.Find(req.matches[1].str());
    if (!d || d->rec.state == "REMOVED" || !MayUse(who, d->rec.consumer)) {
      return Fail(res, NotFound("deployment " + req.matches[1].str() + " does not exist"));
    }
    Reply(res, 200, describe(*d, true));
  });

  router.Delete("/api/v1/deployments/{name}", kPeople, [this](const Principal& who, const httplib::Request& req,
                                                              httplib::Response& res) {
    const std::string name = req.matches[1].str();
    Status st = Mutate([&](store::WriteBatch* batch) -> Status {
      const DeploymentBook::Deployment* d = deployments_.Find(name);
      if (!d || !MayUse(who, d->rec.consumer)) return NotFound("deployment " + name + " does not exist");
      DROVER_RETURN_IF_ERROR(deployments_.Remove(name, Now(), DeploymentHooksLocked(), batch));
      RefreshRoutesLocked();
      Trigger();
      return Status::Ok();
    });
    if (!st.ok()) return Fail(res, st);
    spdlog::info("deployment {} removed by {}", name, who.name);
    Reply(res, 200, {{"name", name}, {"state", "REMOVED"}});
  });
}

}  // namespace drover::server

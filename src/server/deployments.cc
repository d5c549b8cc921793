#include "server/deployments.h"

#include <algorithm>
#include <cmath>

#include "server/model_util.h"

namespace drover::server {

using model_util::Joined;

serve::AutoscalePolicy PolicyOf(const DeploymentSpec& spec) {
  serve::AutoscalePolicy p;
  p.min_replicas = spec.min_replicas;
  p.max_replicas = spec.max_replicas;
  p.target_in_flight = spec.target_in_flight;
  p.window_ms = spec.window_ms;
  p.upscale_delay_ms = spec.upscale_delay_ms;
  p.downscale_delay_ms = spec.downscale_delay_ms;
  p.scale_to_zero_after_ms = spec.scale_to_zero_after_ms;
  return p;
}

ParsedJob ReplicaJob(const DeploymentSpec& spec, const std::string& serve_binary) {
  ParsedJob job;
  job.spec.name = "serve-" + spec.name;
  job.spec.consumer = spec.consumer.empty() ? "/" : spec.consumer;
  job.spec.priority = static_cast<int>(std::min<int64_t>(kMaxPriority, spec.priority + int64_t{kServingPriority}));
  job.spec.workers = WorkerBounds{std::max(1, spec.min_replicas), spec.max_replicas};
  job.spec.per_worker = spec.per_replica;
  job.argv = {serve_binary,
              "--model", spec.model_path,
              "--name", spec.name,
              "--input-name", spec.input.name,
              "--input-datatype", spec.input.datatype,
              "--input-shape", Joined(spec.input.shape),
              "--output-name", spec.output_name,
              "--device", spec.per_replica.gpus > 0 ? "auto" : "cpu",
              "--executors", std::to_string(spec.executors),
              "--threads", std::to_string(spec.threads),
              "--max-batch-size", std::to_string(spec.max_batch_size),
              "--max-queue-delay-us", std::to_string(spec.max_queue_delay_us),
              "--max-queue", std::to_string(spec.max_queue)};
  if (!spec.preferred_batch_sizes.empty()) {
    job.argv.insert(job.argv.end(), {"--preferred-batch-sizes", Joined(spec.preferred_batch_sizes)});
  }
  for (const std::string& word : job.argv) job.spec.command += (job.spec.command.empty() ? "" : " ") + ShellQuote(word);
  // A replica that dies is replaced: failures in a row the job survives (the
  // count starts over after 10 minutes without one).
  job.max_restarts = 20;
  return job;
}

Status DeploymentBook::Load(const store::Snapshot& snap, const std::function<int(JobId)>& job_size) {
  std::map<std::string, Deployment> loaded;
  for (const store::DeploymentRecord& rec : snap.deployments) {
    Result<DeploymentSpec> spec = ParseDeploymentSpec(rec.spec_yaml, "deployment " + rec.name);
    if (!spec.ok()) return Internal("stored deployment " + rec.name + " no longer parses: " + spec.status().message());
    Deployment d;
    d.rec = rec;
    d.spec = std::move(*spec);
    if (rec.state == "ACTIVE") {
      d.autoscaler = std::make_unique<serve::Autoscaler>(PolicyOf(d.spec));
      d.desired = rec.job ? std::max(1, job_size(rec.job)) : 0;
    }
    loaded.emplace(rec.name, std::move(d));
  }
  deployments_ = std::move(loaded);
  return Status::Ok();
}

const DeploymentBook::Deployment* DeploymentBook::Find(const std::string& name) const {
  auto it = deployments_.find(name);
  return it == deployments_.end() ? nullptr : &it->second;
}

Status DeploymentBook::Create(store::DeploymentRecord rec, DeploymentSpec spec, double now, const Hooks& hooks,
                              store::WriteBatch* batch) {
  if (const Deployment* old = Find(rec.name); old && old->rec.state == "ACTIVE") {
    return AlreadyExists("deployment " + rec.name + " exists; undeploy it first (drover undeploy " + rec.name + ")");
  }
  DROVER_RETURN_IF_ERROR(serve::Validate(PolicyOf(spec)));
  Deployment d;
  d.rec = std::move(rec);
  d.rec.state = "ACTIVE";
  d.rec.job = 0;
  d.rec.events.clear();
  d.spec = std::move(spec);
  d.autoscaler = std::make_unique<serve::Autoscaler>(PolicyOf(d.spec));
  const std::string name = d.rec.name;
  Deployment& placed = deployments_[name] = std::move(d);
  if (placed.spec.min_replicas > 0) {
    Scale(placed, placed.spec.min_replicas, "deployed with replicas.min " + std::to_string(placed.spec.min_replicas),
          now, hooks, batch);
    if (placed.rec.job == 0) {  // the submission was refused: nothing is created
      Status why = Internal("deployment " + name + ": " + placed.rec.reason);
      deployments_.erase(name);
      return why;
    }
  } else {
    AddEvent(placed, now, 0, 0, "deployed at zero replicas: the first request starts one");
  }
  batch->deployments.push_back(placed.rec);
  return Status::Ok();
}

Status DeploymentBook::Remove(const std::string& name, double now, const Hooks& hooks, store::WriteBatch* batch) {
  auto it = deployments_.find(name);
  if (it == deployments_.end() || it->second.rec.state == "REMOVED") {
    return NotFound("deployment " + name + " does not exist");
  }
  Deployment& d = it->second;
  if (d.rec.job) hooks.cancel(d.rec.job, "deployment " + name + " was undeployed", batch);
  AddEvent(d, now, d.desired, 0, "undeployed");
  d.rec.job = 0;
  d.rec.state = "REMOVED";
  d.desired = 0;
  d.autoscaler.reset();
  demanded_.erase(name);
  batch->deployments.push_back(d.rec);
  return Status::Ok();
}

void DeploymentBook::AddEvent(Deployment& d, double now, int from, int to, const std::string& reason) {
  d.rec.events.push_back({now, from, to, reason});
  if (d.rec.events.size() > kMaxScaleEvents) d.rec.events.erase(d.rec.events.begin());
}

void DeploymentBook::Scale(Deployment& d, int to, const std::string& reason, double now, const Hooks& hooks,
                           store::WriteBatch* batch) {
  const int from = d.desired;
  if (to == 0) {
    if (d.rec.job) hooks.cancel(d.rec.job, "deployment " + d.rec.name + " scaled to zero", batch);
    d.rec.job = 0;
  } else if (d.rec.job == 0) {
    Result<JobId> job = hooks.submit(d, batch);
    if (!job.ok()) {
      d.rec.reason = job.status().message();
      AddEvent(d, now, from, from, "cannot start replicas: " + job.status().message());
      return;
    }
    d.rec.job = *job;
    d.rec.reason.clear();
  }
  d.desired = to;
  AddEvent(d, now, from, to, reason);
}

int DeploymentBook::Advance(double now, const Hooks& hooks, store::WriteBatch* batch) {
  int changed = 0;
  const auto now_ms = static_cast<int64_t>(std::llround(now * 1000));
  for (auto& [name, d] : deployments_) {
    if (d.rec.state != "ACTIVE") continue;
    if (d.rec.job) {
      auto state = hooks.job_state(d.rec.job);
      if (!state || api::IsTerminal(state->first)) {
        // The replicas' job ended without the book ending it: its replicas kept failing.
        const std::string why = state ? "job " + std::to_string(d.rec.job) + " " + api::Name(state->first) +
                                            (state->second.empty() ? "" : ": " + state->second)
                                      : "job " + std::to_string(d.rec.job) + " is gone";
        AddEvent(d, now, d.desired, 0, why);
        d.rec.job = 0;
        d.rec.state = "FAILED";
        d.rec.reason = why;
        d.desired = 0;
        d.autoscaler.reset();
        batch->deployments.push_back(d.rec);
        ++changed;
        continue;
      }
    }
    const serve::ModelLoad load = hooks.load(name);
    serve::Observation o;
    o.at_ms = now_ms;
    o.in_flight = static_cast<double>(load.in_flight);
    o.held = static_cast<int>(load.held);
    if (demanded_.erase(name)) o.held = std::max(o.held, 1);
    // Any request or none is all the autoscaler reads of the rate.
    const bool busy = o.in_flight + o.held > 0 || load.answered != d.answered_seen;
    o.requests_per_s = busy ? 1 : 0;
    d.answered_seen = load.answered;
    d.autoscaler->Observe(o);
    const serve::AutoscaleDecision decision = d.autoscaler->Decide(now_ms, d.desired);
    if (!decision.changed || decision.desired == d.desired) continue;
    Scale(d, decision.desired, decision.reason, now, hooks, batch);
    batch->deployments.push_back(d.rec);
    ++changed;
  }
  return changed;
}

std::map<JobId, int> DeploymentBook::Caps() const {
  std::map<JobId, int> caps;
  for (const auto& [name, d] : deployments_) {
    if (d.rec.state == "ACTIVE" && d.rec.job && d.desired > 0) caps[d.rec.job] = d.desired;
  }
  return caps;
}

}  // namespace drover::server

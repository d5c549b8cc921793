// Deployments in the server: their records, their autoscalers, and the
// adapter that applies each autoscaler's decision through the cluster model.
//
// A deployment's replicas are the workers of one elastic job of its consumer
// (`drover-serve` with the deployment's model and batching), so the plan's
// fair share, borrowing and reclaim apply to them as to training. The job's
// bounds are {max(1, min), max} of the spec; the autoscaler's count caps it
// each cycle (ClusterModel::SetWorkerCap), so the scheduler shrinks a
// deployment that needs fewer replicas and grows one that needs more when
// the plan allows. At zero replicas the job is cancelled; the next request
// (held by the router) brings a new one. Its priority is the spec's plus
// kServingPriority: serving runs before the batch training of its consumer.
// A replica the scheduler removes gets SIGTERM and drains (replica.h); the
// router stops sending it requests as soon as it is no longer wanted.
//
// Thread safety: none; the server calls it under its mutex. State changes
// are recorded in the caller's WriteBatch.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "api/states.h"
#include "common/job.h"
#include "common/status.h"
#include "serve/autoscaler.h"
#include "serve/inference_router.h"
#include "spec/deployment_parser.h"
#include "spec/job_parser.h"
#include "store/store.h"

namespace drover::server {

//! Added to a deployment's priority for its replicas' job.
inline constexpr int kServingPriority = 1000;
//! Scaling events kept per deployment.
inline constexpr size_t kMaxScaleEvents = 50;

//! The autoscaler's policy for `spec`.
serve::AutoscalePolicy PolicyOf(const DeploymentSpec& spec);
//! The replicas' job of `spec` (its command runs `serve_binary`), bounds {max(1, min), max}.
ParsedJob ReplicaJob(const DeploymentSpec& spec, const std::string& serve_binary = "drover-serve");

class DeploymentBook {
 public:
  struct Deployment {
    store::DeploymentRecord rec;
    DeploymentSpec spec;
    std::unique_ptr<serve::Autoscaler> autoscaler;
    int desired = 0;  //!< the replica count the autoscaler wants now
    uint64_t answered_seen = 0;  //!< the router's count of answers at the last cycle
  };

  //! Replaces everything with the snapshot's deployments (active ones get a
  //! fresh autoscaler, starting from their job's size). kInternal when a
  //! stored spec no longer parses.
  Status Load(const store::Snapshot& snap, const std::function<int(JobId)>& job_size);

  const Deployment* Find(const std::string& name) const;
  const std::map<std::string, Deployment>& all() const { return deployments_; }

  //! How the book reaches the rest of the server.
  struct Hooks {
    //! The state and reason of a job; nullopt if it does not exist.
    std::function<std::optional<std::pair<api::JobState, std::string>>(JobId)> job_state;
    //! Submits the replicas' job of `d` (ReplicaJob).
    std::function<Result<JobId>(const Deployment& d, store::WriteBatch* batch)> submit;
    //! Cancels a job, saying why.
    std::function<void(JobId job, const std::string& why, store::WriteBatch* batch)> cancel;
    //! What the router saw of a model.
    std::function<serve::ModelLoad(const std::string& model)> load;
  };

  //! Makes deployment `rec` of `spec` (state ACTIVE); starts its minimum of
  //! replicas. kAlreadyExists when an active deployment has the name.
  Status Create(store::DeploymentRecord rec, DeploymentSpec spec, double now, const Hooks& hooks,
                store::WriteBatch* batch);
  //! Undeploys `name`: its job is cancelled. kNotFound.
  Status Remove(const std::string& name, double now, const Hooks& hooks, store::WriteBatch* batch);
  //! A request is waiting for `name` at zero replicas: scale it up now.
  void Demand(const std::string& name) { demanded_.insert(name); }

  //! Observes each active deployment's load and applies its autoscaler's
  //! decision. Returns how many deployments changed.
  int Advance(double now, const Hooks& hooks, store::WriteBatch* batch);
  //! The worker cap of each active deployment's job (for ClusterModel::SetWorkerCap).
  std::map<JobId, int> Caps() const;

 private:
  void Scale(Deployment& d, int to, const std::string& reason, double now, const Hooks& hooks,
             store::WriteBatch* batch);
  static void AddEvent(Deployment& d, double now, int from, int to, const std::string& reason);

  std::map<std::string, Deployment> deployments_;
  std::set<std::string> demanded_;
};

}  // namespace drover::server

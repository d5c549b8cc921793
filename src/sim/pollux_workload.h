// Pollux workloads (`name,time,application,num_replicas,batch_size`) turned
// into simulated jobs for a given policy.
//
// Rigid policies (fifo, tiresias) get each job as the workload gives it: its
// hand-tuned GPU count and batch size. The elastic policy (drover) gets, as
// Pollux does, jobs it may run on 1..N GPUs where N = min(64, max_batch_size /
// min_local_bsz), each choosing the best batch size for the GPUs it holds,
// and passes their throughput profile to the scheduler. ncf is held to one
// GPU at batch 32768, as Pollux's own runs hold it.
//
// Where the profile comes from (Profiles):
//  - kLearned: as on the live platform, each job learns it. It starts knowing
//    its batch limits and, from the first job of its application in the
//    workload that has seen enough (sched::PriorBook), that job's throughput
//    fit; every round it runs, it observes the step time of its placement
//    and batch and its gradient noise (what drover's runtime measures and
//    posts), and a sched::GoodputModel fitted to what it has seen gives both
//    the profile and the batch geometry the job runs at. Nothing is carried
//    from one workload (one BuildPolluxJobs call) to another.
//  - kOracle: the profile and geometry come from the application's true model.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/status.h"
#include "sim/application.h"
#include "sim/simulator.h"

namespace drover::sim {

struct WorkloadRow {
  std::string name;
  double time = 0;
  std::string application;
  int num_replicas = 1;
  int batch_size = 1;
};

//! Errors name the file, line and column at fault.
Result<std::vector<WorkloadRow>> LoadWorkload(const std::string& path);

enum class Profiles { kLearned, kOracle };

//! `elastic`: build jobs for an elastic policy (see above). Fails with
//! kNotFound for an application the traces do not have. `apps` must outlive
//! the returned jobs.
Result<std::vector<SimJobSpec>> BuildPolluxJobs(const std::vector<WorkloadRow>& rows,
                                                const std::map<std::string, Application>& apps,
                                                bool elastic, int consumer,
                                                Profiles profiles = Profiles::kLearned);

}  // namespace drover::sim

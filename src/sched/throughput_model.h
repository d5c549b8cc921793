// A job's throughput model, learned from the step times it has shown, in the
// form Pollux uses (Qiao et al., OSDI 2021, section 4.1): one step of a job
// on K replicas over N nodes with local batch m takes
//
//   T_grad(m)   = a_grad + b_grad * m                       (compute)
//   T_sync(K,N) = 0                         when K = 1
//               = a_local + b_local * (K - 2)  when N = 1   (within a node)
//               = a_node  + b_node  * (K - 2)  when N > 1   (across nodes)
//   T_step      = (T_grad^g + T_sync^g)^(1/g),  g >= 1      (how much they overlap)
//
// FitThroughput finds the seven parameters that best explain observed steps
// (least squares on the logarithm of the step time, so every size counts
// alike, and of the compute time T_grad where it was measured), starting from and gently held to a prior, so that sizes not yet
// seen are predicted from what a similar job would do rather than from
// nothing. Pure: no clock, no I/O; the same code serves the server and the
// simulator.
#pragma once

#include <vector>

namespace drover::sched {

struct ThroughputParams {
  double a_grad = 0.01, b_grad = 1e-3;    //!< seconds; seconds per sample
  double a_local = 1e-3, b_local = 1e-4;  //!< seconds (replicas on one node)
  double a_node = 1e-2, b_node = 1e-3;    //!< seconds (replicas on several nodes)
  double gamma = 1.5;                     //!< >= 1: 1 = no overlap of compute and sync
};

//! One measured step: how the job was placed and how long a step took.
struct StepObservation {
  int nodes = 1;
  int replicas = 1;
  double local_batch = 1;
  double step_time = 0;     //!< seconds, synchronisation included
  //! Seconds of the step not spent waiting for synchronisation (what a step
  //! of gradient accumulation takes: T_grad); 0 when not measured. Step
  //! times alone cannot tell compute from sync at a single local batch.
  double compute_time = 0;
};

//! T_grad: one replica's compute (forward and backward) at `local_batch`.
inline double ComputeTime(const ThroughputParams& p, double local_batch) { return p.a_grad + p.b_grad * local_batch; }

//! T_sync: the synchronisation of K `replicas` over `nodes` nodes (0 for one replica).
double SyncTime(const ThroughputParams& p, int nodes, int replicas);

//! A step of compute `grad` and synchronisation `sync`, as much overlapped as gamma says.
double CombineStep(const ThroughputParams& p, double grad, double sync);

//! The model's step time for K `replicas` over `nodes` nodes at `local_batch`.
inline double PredictStepTime(const ThroughputParams& p, int nodes, int replicas, double local_batch) {
  return CombineStep(p, ComputeTime(p, local_batch), SyncTime(p, nodes, replicas));
}

//! Which sync parameters the observations cannot determine, and so are tied
//! to others during the fit (the optimistic guess Pollux's fit also makes).
struct FitTies {
  bool no_local_slope = false;  //!< b_local = 0: one replica count seen on a single node
  bool node_as_local = false;   //!< a_node, b_node = a_local, b_local: no multi-node step seen
  bool node_slope_as_local = false;  //!< b_node = b_local: one replica count seen across nodes
};

//! The parameters that best fit `obs`, starting from `prior` (which also
//! weighs, lightly, on parameters the observations say little about).
//! Observations with a step time not above 0 are ignored; none: `prior`.
//! `start`, when given (a previous fit), is where the search begins: a
//! refit after one more point then takes a few rounds instead of ten.
ThroughputParams FitThroughput(const std::vector<StepObservation>& obs, const ThroughputParams& prior = {},
                               const ThroughputParams* start = nullptr, const FitTies& ties = {});

}  // namespace drover::sched

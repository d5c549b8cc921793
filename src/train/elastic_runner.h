// ElasticRunner: drives a Trainer through the membership of its job — the
// runtime half of elastic training. Fit() is what a user program calls.
//
// Under drover (DROVER_SERVER set) the server is the source of truth for who
// is in the job. Each change of the worker set is a new generation; the
// runner then, in order:
//   1. finishes the step in progress. Every step's all-reduce carries one
//      extra float, "I have seen a newer generation, all of whose members are
//      ready" (a membership watcher thread long-polls the server), so every
//      rank leaves the step loop after the SAME committed step;
//   2. re-forms the Gloo group for the new generation (rank = index of this
//      worker's slot among the members), rendezvousing through the server's
//      per-job key-value store, which outlives any worker;
//   3. elects the most advanced worker (highest committed step, then lowest
//      rank) and broadcasts its full state — model, optimizer, step, epoch,
//      data cursor, RNG — to the others, so newcomers (and a rank that rolled
//      back a step a peer committed) continue from it;
//   4. reports the rescale (from, to, pause) to the server and trains on.
// A worker that is no longer a member (the scheduler shrank the job) leaves
// after that same boundary: Fit() returns OK with left() true.
//
// Failure: a peer that dies makes the step's all-reduce fail within ~50 ms
// (Gloo's socket resets; a frozen peer at `collective_timeout`, and the
// server drops it when its heartbeats stop). The failed step changed nothing
// (Trainer's rollback: the last in-memory commit is the model itself), so the
// survivors wait for the server's next generation and go on — at once, as the
// group of its ready members, if the scheduler has already added a newcomer
// that is still starting (it joins through a regroup). If no new generation
// comes within `regroup_after`, the runner asks the server to open one.
//
// A checkpoint directory makes full restarts (preemption, a restarted job)
// resume: rank 0 writes the state atomically every `checkpoint_every` steps
// and at the end, and Fit() starts from it when present.
//
// Standalone (no DROVER_SERVER): a fixed group from RANK, WORLD_SIZE,
// MASTER_ADDR and MASTER_PORT (rank 0 hosts a TCPStore), as torchrun gives.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "common/status.h"
#include "train/job_client.h"
#include "sched/goodput_model.h"
#include "train/membership.h"
#include "train/scaling.h"
#include "train/process_group.h"
#include "train/trainer.h"

namespace drover::train {


struct ElasticOptions {
  BatchMode batch_mode = BatchMode::kConstantGlobal;
  //! Per-worker mode only.
  int64_t per_worker_batch = 64;
  //! Per-worker mode only: the learning rate follows the world size.
  LrScaling lr_scaling = LrScaling::kNone;
  //! Adaptive mode only: the largest global batch (0: 8 x the initial one).
  //! The initial batch is TrainOptions::global_batch.
  int64_t max_batch = 0;
  //! Empty: no checkpoints.
  std::filesystem::path checkpoint_dir;
  //! Steps between checkpoints (0: only at the end).
  int64_t checkpoint_every = 0;
  //! Bounds each collective and rendezvous: how long a frozen peer can stall a step.
  std::chrono::milliseconds collective_timeout{5000};
  //! How often this worker reports progress (its heartbeat).
  std::chrono::milliseconds status_interval{1000};
  //! After a failed step, how long to wait for the server's next generation
  //! before asking it to open one.
  std::chrono::milliseconds regroup_after{3000};
  //! Checked after every step; true stops training on this rank. It must give
  //! every rank the same answer at the same step (say, from the model itself).
  std::function<bool()> stop_when;
  //! Lower bound of a step's wall time (throttles tests and demos; 0: none).
  std::chrono::milliseconds min_step{0};
  //! After each epoch, rank 0 prints `drover-metric {"epoch": E, "loss": L,
  //! "samples_per_s": S}` on stdout (L: the epoch's mean loss on rank 0),
  //! with whatever OnEpochMetrics adds: the line drover's experiments take
  //! their metrics from (docs/hpo.md). Off by default.
  bool epoch_metrics = false;
  //! On a GPU (the Trainer's device), reduce gradients over NCCL; false
  //! sends them through host memory over Gloo (ranks sharing one GPU, which
  //! NCCL refuses). Needs a build with DROVER_WITH_CUDA.
  bool nccl = true;
};

struct RescaleEvent {
  int from = 0;
  int to = 0;
  //! Last step at the old size to the first step at the new one could start.
  double pause_ms = 0;
  //! The step the group changed after.
  int64_t step = 0;
  //! After a failure (a lost peer) rather than a planned change.
  bool after_failure = false;
  //! Parts of the pause: forming the group, electing the root and sending its state.
  double form_ms = 0;
  double sync_ms = 0;
};

class ElasticRunner {
 public:
  //! Reads the environment (see above). InvalidArgument for a malformed one.
  [[nodiscard]] static Result<std::unique_ptr<ElasticRunner>> Create(Trainer* trainer,
                                                                     const ElasticOptions& options);
  ~ElasticRunner();

  //! Trains until the Trainer's epochs or max_steps are reached (every rank
  //! stops at the same step) or this worker leaves the job. Errors: a
  //! standalone group failing; under drover, only a job that ended elsewhere
  //! (FailedPrecondition) or an unreachable server for longer than a minute.
  [[nodiscard]] Status Fit();

  bool left() const { return left_; }
  bool standalone() const { return !client_; }
  int rank() const { return group_ ? group_->rank() : 0; }
  int world_size() const { return group_ ? group_->world_size() : 1; }
  void OnRescale(std::function<void(const RescaleEvent&)> callback) { on_rescale_ = std::move(callback); }
  //! With ElasticOptions::epoch_metrics: called on rank 0 after each epoch
  //! (numbered from 1) to add values (say, a validation accuracy) to its line.
  void OnEpochMetrics(std::function<void(int64_t epoch, std::map<std::string, double>* values)> add) {
    on_epoch_metrics_ = std::move(add);
  }

 private:
  ElasticRunner(Trainer* trainer, const ElasticOptions& options);
  //! The collective timeout and the backend (NCCL on a GPU) of either mode's group.
  GroupOptions BaseGroupOptions() const;
  Status FitStandalone();
  Status FitElastic();
  //! Forms the group the decision names (all of the server's generation, or
  //! only its ready members) under its store prefix, elects the root and
  //! synchronises.
  Status Regroup(const MembershipDecision& d);
  //! Sets the batch size and learning rate for the world size. Adaptive:
  //! group rank 0's choice, shared over the group (a collective).
  Status Configure(int world);
  //! Adaptive mode: feeds a step into this worker's model.
  void Learn(const StepMetrics& m);
  //! Waits after a failure at `generation` for a newer one, asking the server
  //! for it if none comes within regroup_after (or at once: `ask_now`).
  void AwaitNewGeneration(int64_t generation, bool ask_now);
  //! The last progress, sent before Fit returns.
  void FinalReport(int world);
  Status SaveCheckpoint();
  Status LoadCheckpoint(bool* loaded);
  bool Done() const;
  //! Samples still to train before the trainer's epochs or max_steps end
  //! (whichever comes first); nullopt when it has neither.
  std::optional<double> SamplesLeft() const;
  //! Whether this rank writes a checkpoint after the step just taken.
  bool SaveDue() const;
  //! `joined`: the generation this worker was started at.
  void StartThreads(int64_t joined);
  void StopThreads();

  struct Threads;
  Trainer* trainer_;
  ElasticOptions options_;
  double base_lr_;
  std::unique_ptr<JobClient> client_;  //!< main thread's; null when standalone
  std::unique_ptr<ElasticGroup> group_;
  std::unique_ptr<Threads> threads_;
  std::function<void(const RescaleEvent&)> on_rescale_;
  std::function<void(int64_t, std::map<std::string, double>*)> on_epoch_metrics_;
  //! After every step: ends an epoch's metrics line when the step finished the epoch.
  void NoteStep(const StepMetrics& m);
  double epoch_loss_ = 0;  //!< sum over the epoch's steps so far
  int64_t epoch_steps_ = 0;
  bool left_ = false;
  bool have_state_ = false;
  int64_t known_generation_ = 0;
  //! The last Regroup's parts, for RescaleEvent.
  double form_ms_ = 0;
  double sync_ms_ = 0;
  //! The gradient norms (StepMetrics::local/global_grad_sqr), smoothed over
  //! the steps of one world size (exponentially, 1/10 new); 0: none yet.
  //! What the heartbeat posts and the adaptive mode's noise both read.
  struct SmoothedNorms {
    double local = 0, global = 0;
    void Add(const StepMetrics& m);
  } norms_;
  //! Adaptive mode: the initial global batch, this worker's model of the
  //! job's speed, and the hosts of the current group.
  int64_t init_batch_ = 0;
  std::unique_ptr<sched::GoodputModel> goodput_;
  int hosts_ = 1;
};

//! Trains `trainer` under its job's membership (or standalone): the one call a
//! user program makes. Returns as ElasticRunner::Fit; `left` (optional) is set
//! when this worker left the job before the end.
[[nodiscard]] Status Fit(Trainer* trainer, const ElasticOptions& options = {}, bool* left = nullptr);

}  // namespace drover::train

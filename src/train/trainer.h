// Trainer: the data-parallel training loop of elastic training.
//
// Every step trains on one GLOBAL batch of TrainOptions::global_batch samples
// (the sampler's next batch, short at an epoch's end), whatever the world size:
// this rank takes its slice, ElasticSampler::Next(global_batch, world, rank),
// and runs it in micro-batches of at most max_micro_batch samples, summing the
// per-sample losses divided by the global batch size B. Each rank's gradient is
// then its share (slice / B) of the mean-loss gradient, so the sum over ranks is
// exactly the gradient of the mean loss over the whole global batch: training
// on 1 rank or on N gives the same model up to float summation order.
//
// The gradients live in ONE flat float bucket: every parameter's .grad() is a
// view of its slice (as DDP's gradient_as_bucket_view), backward accumulates
// straight into it, and the bucket's last two floats carry the loss and the
// runner's signal. The bucket is reduced in a few chunks, each started as soon
// as backward has filled it (overlapping the rest of backward), no copies,
// then the optimizer steps. With no group, or a group of world size 1,
// the collective is skipped.
//
// Device: TrainOptions::device ("cpu", "cuda", "cuda:1"). The module, the
// dataset and the bucket move there at Create; on a GPU the bucket is reduced
// over NCCL (ElasticGroup with GroupOptions::nccl) and state travels as CPU
// bytes over Gloo.
//
// Rollback: a step that fails (say the collective: Unavailable) leaves the
// parameters, optimizer, sampler and step counter untouched, so the caller may
// Form a new generation and simply call Step() again.
//
// Resize: the most senior worker's SaveState() is what a newcomer LoadState()s;
// Synchronize(root) does that over the group's Broadcast.
//
// libtorch throws; nothing escapes this class: failures come back as Status
// (Internal for a torch exception, with its message).
//
// Thread safety: none; one caller thread. The Trainer shares the module with
// the caller (it trains it in place) and borrows the group.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>

#include "common/status.h"
#include "train/elastic_sampler.h"
#include "train/idx_dataset.h"
#include "train/process_group.h"

namespace torch::autograd {
struct Node;
}

namespace drover::train {

struct TrainOptions {
  //! Samples per optimizer step, summed over all ranks; constant across resizes.
  int64_t global_batch = 64;
  //! Largest forward/backward on this rank; a larger slice accumulates gradients.
  int64_t max_micro_batch = 64;
  //! Run() stops after this many epochs (0: no limit) ...
  int64_t epochs = 0;
  //! ... or once step() reaches this (0: no limit). One of the two must be set for Run().
  int64_t max_steps = 0;
  //! Seeds the data order (ElasticSampler).
  uint64_t seed = 0;
  //! Used by the default optimizer: SGD(lr, momentum).
  double lr = 0.01;
  double momentum = 0.9;
  //! Where the model, the data and the gradient bucket live: "cpu", "cuda"
  //! (this process's first visible GPU) or "cuda:N".
  std::string device = "cpu";
  //! Reduce each chunk of gradients while backward computes the earlier
  //! layers'. Unset: on a GPU only. On CPUs the collective's threads take the
  //! cores that backward runs on: measured with 2 workers on 2 CPUs, the CNN
  //! ran 2.9k-4.8k samples/s with overlap against 3.8k-4.0k without.
  std::optional<bool> overlap_backward;
};

//! "cuda" when libtorch sees a GPU, else "cpu": what "--device auto" means.
std::string DefaultDevice();

struct StepMetrics {
  //! Steps completed, this one included.
  int64_t step = 0;
  //! The epoch this step's samples came from.
  int64_t epoch = 0;
  //! Mean loss over the whole global batch (all ranks).
  double loss = 0;
  //! Samples in the global batch.
  int64_t global_samples = 0;
  //! Samples this rank trained on.
  int64_t local_samples = 0;
  int world_size = 1;
  //! Global samples per second of this step's wall time (compute + collective).
  double samples_per_s = 0;
  std::chrono::nanoseconds wall{0};
  //! Sum over ranks of SetSignal()'s values for this step (0 without a signal).
  double signal = 0;
  //! Gradient chunks whose reduction started while backward still ran.
  int chunks_overlapped = 0;
  //! Of `wall`: forward and backward, up to the end of the last backward
  //! (a reduction it overlapped is hidden in it) ...
  std::chrono::nanoseconds compute{0};
  //! ... and waiting for the gradients' reduction after it.
  std::chrono::nanoseconds sync{0};
  //! Gradient noise, from this rank's gradient before the all-reduce and the
  //! reduced one (the mean over the global batch): |g_local|^2 and |g|^2 of
  //! the mean-loss gradients. Both 0 without a group of world size > 1.
  double local_grad_sqr = 0;
  double global_grad_sqr = 0;
  //! The sample indices this rank trained on.
  std::vector<int64_t> indices;
};

//! Images and labels as tensors.
struct TensorDataset {
  //! N x 1 x rows x cols, float in [0, 1].
  torch::Tensor images;
  //! N, int64 class indices.
  torch::Tensor labels;
};
//! Converts LoadFashionMnist's bytes (copies). Internal on a torch failure.
[[nodiscard]] Result<TensorDataset> ToTensors(const Dataset& dataset);

//! The model: the module (whose parameters are trained and saved) and its forward.
using ForwardFn = std::function<torch::Tensor(const torch::Tensor& input)>;
//! The loss of a micro-batch: forward's output and the labels in, the SUM of
//! the per-sample losses out (a scalar); the Trainer divides by the global batch.
using LossFn = std::function<torch::Tensor(const torch::Tensor& output, const torch::Tensor& labels)>;
//! Builds the optimizer over the module's parameters.
using OptimizerFactory = std::function<std::unique_ptr<torch::optim::Optimizer>(
    std::vector<torch::Tensor> parameters, const TrainOptions& options)>;
//! The default: torch::optim::SGD(lr, momentum).
OptimizerFactory SgdMomentum();

class Trainer {
 public:
  //! InvalidArgument: null module or forward, non-float parameters, labels not
  //! matching images, an empty dataset, global_batch or max_micro_batch <= 0,
  //! negative epochs or max_steps, a malformed device; FailedPrecondition: a
  //! CUDA device that libtorch does not see. Moves module and data to the device. Loss: cross-entropy on forward's logits.
  //! `optimizer` defaults to SgdMomentum().
  [[nodiscard]] static Result<std::unique_ptr<Trainer>> Create(
      std::shared_ptr<torch::nn::Module> module, ForwardFn forward, TensorDataset data,
      const TrainOptions& options, OptimizerFactory optimizer = nullptr);

  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  //! The group to all-reduce over; its current rank and world size are read at
  //! each step. Null (the default) trains alone.
  void SetGroup(ElasticGroup* group) { group_ = group; }

  //! Replaces the default loss, summed cross-entropy on forward's logits.
  void SetLoss(LossFn loss) { loss_ = std::move(loss); }

  //! A value each rank contributes to every step's all-reduce (riding in the
  //! gradient bucket, so it costs no extra collective); StepMetrics::signal is
  //! the sum. The elastic runner uses it to agree on the step after which the
  //! group changes.
  void SetSignal(std::function<float()> local) { signal_ = std::move(local); }

  //! Changes the samples per step from the next step on (the constant
  //! per-worker-batch mode sets world x per-worker batch). InvalidArgument if <= 0.
  [[nodiscard]] Status SetGlobalBatch(int64_t global_batch);
  //! Sets every parameter group's learning rate. InvalidArgument if not > 0.
  [[nodiscard]] Status SetLearningRate(double lr);

  //! One optimizer step over the next global batch. FailedPrecondition if the
  //! group has world size > 1 but is not formed; the collective's error
  //! (Unavailable) if it fails. On any error nothing but gradients changed.
  [[nodiscard]] Result<StepMetrics> Step();

  //! Steps until max_steps or the end of epoch `epochs`; the first error stops it.
  [[nodiscard]] Status Run();

  //! Parameters, buffers, optimizer state, step, sampler state and torch's
  //! default CPU generator state, as one torch archive.
  [[nodiscard]] Result<std::vector<uint8_t>> SaveState();
  //! Restores a SaveState() of a trainer of the same architecture and dataset
  //! size. InvalidArgument on a corrupt or mismatched archive; nothing is
  //! changed unless it all loads.
  [[nodiscard]] Status LoadState(std::span<const uint8_t> bytes);
  //! Rank `root` of the group broadcasts its SaveState(), every other rank
  //! loads it. No-op without a group of world size > 1.
  [[nodiscard]] Status Synchronize(int root);

  //! Called after every successful step.
  void OnStep(std::function<void(const StepMetrics&)> callback) { on_step_ = std::move(callback); }
  //! Called with the finished epoch's index when a step completes an epoch.
  void OnEpochEnd(std::function<void(int64_t epoch)> hook) { on_epoch_end_ = std::move(hook); }

  int64_t step() const { return step_; }
  //! How many collectives reduce a step's gradients (the bucket's chunks).
  size_t chunks() const { return chunks_.size(); }
  //! Where the module, the data and the bucket live.
  const torch::Device& device() const { return device_; }
  const ElasticSampler& sampler() const { return sampler_; }
  const TrainOptions& options() const { return options_; }
  //! The parameters, flattened into one buffer (for comparisons and tests).
  std::vector<float> FlatParameters() const;

 private:
  Trainer(std::shared_ptr<torch::nn::Module> module, ForwardFn forward, TensorDataset data,
          const TrainOptions& options, ElasticSampler sampler, OptimizerFactory factory,
          std::unique_ptr<torch::optim::Optimizer> optimizer, torch::Device device);
  Result<StepMetrics> StepImpl();
  //! Points every parameter's grad at its slice of the bucket again if
  //! something (an optimizer's zero_grad) replaced it, and zeroes the bucket.
  void ResetGradients();
  //! Called by parameter i's gradient accumulator after backward added to it.
  void OnGradientReady(size_t i);
  //! Starts the reduction of every chunk whose gradients are all in (or of
  //! all chunks: `all`), in chunk order, which is the same on every rank.
  void StartChunks(bool all);
  Status LoadStateImpl(std::span<const uint8_t> bytes);

  std::shared_ptr<torch::nn::Module> module_;
  ForwardFn forward_;
  TensorDataset data_;
  TrainOptions options_;
  ElasticSampler sampler_;
  OptimizerFactory factory_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  std::vector<torch::Tensor> params_;
  ElasticGroup* group_ = nullptr;
  int64_t step_ = 0;
  std::function<void(const StepMetrics&)> on_step_;
  std::function<void(int64_t)> on_epoch_end_;
  std::function<float()> signal_;
  LossFn loss_;
  torch::Device device_;
  //! Every gradient, then the loss and the signal: all-reduced as one.
  torch::Tensor bucket_;
  //! Parameter i's gradient: a view of bucket_.
  std::vector<torch::Tensor> grad_views_;
  int64_t n_grad_ = 0;
  // Overlap: the bucket is cut into chunks of whole parameters in reverse
  // order (the order backward produces them: the last layers first; chunk 0
  // holds the loss and signal too). During the last micro-batch's backward of
  // a collective step, a chunk's all-reduce starts as soon as every one of its
  // gradients is in, so communication runs while earlier layers' backward
  // computes. Chunks start in index order only, so every rank starts the same
  // collectives in the same order whatever its autograd did.
  struct Chunk {
    int64_t begin = 0;
    int64_t size = 0;
    int params = 0;
    int ready = 0;
  };
  std::vector<Chunk> chunks_;
  std::vector<size_t> chunk_of_;
  //! Kept alive: the hooks live on them.
  std::vector<std::shared_ptr<torch::autograd::Node>> accumulators_;
  //! What the hooks call back; nulled when the Trainer goes (the module and
  //! its hooks may outlive it).
  std::shared_ptr<Trainer*> self_;
  bool overlap_backward_ = false;
  bool overlap_ = false;
  size_t next_chunk_ = 0;
  //! Sum of the squares of this rank's gradients in the chunks started so
  //! far this step, taken just before each chunk's reduction.
  torch::Tensor local_sqr_;
  Status overlap_status_;
};

}  // namespace drover::train

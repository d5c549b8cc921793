// ElasticGroup: the re-formable collective group of elastic training.
//
// One store serves the whole job: a TCPStore (whoever hosts it is the
// caller's business) or any KeyValue, such as the drover server's per-job
// store, which outlives every worker. Each membership of the job is a generation: Form(g,
// rank, world) builds a fresh c10d ProcessGroupGloo under PrefixStore("gen<g>/")
// of that store, so the rendezvous keys of one generation never meet those of
// another, and the process never restarts to change the world size. The Gloo
// TCP device is created once in Create() and shared by every generation.
//
// With GroupOptions::nccl, each generation also gets a ProcessGroupNCCL (under
// "gen<g>/nccl/") for the gradient bucket on the GPU; Gloo keeps the control
// traffic. NCCL does not see a dead peer by itself: its collectives run in
// blocking-wait mode with the same timeout, and a failed one aborts the
// communicator instead of the process (TORCH_NCCL_ASYNC_ERROR_HANDLING=0,
// TORCH_NCCL_BLOCKING_WAIT=1 unless the environment says otherwise).
//
// Failure model: a killed peer makes a collective fail within ~50 ms (the
// socket is reset); a frozen one after `timeout`. A failed collective tears
// the group down at once, closing its connections, so peers blocked in the
// same collective fail fast as well instead of waiting for their timeout. The
// caller then rolls back the step, agrees on the next membership elsewhere
// (agent, store), and calls Form(generation + 1, ...).
//
// libtorch throws (gloo::IoException, c10::Error); nothing escapes this class:
// every failure comes back as a Status.
//
// Thread safety: none. One caller thread per ElasticGroup; it may be moved to
// another thread between calls. Ownership: the group owns its store client
// (or server) and its Gloo device.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "train/key_value.h"

namespace at {
class Tensor;
}

namespace drover::train {

//! Whether this build can run collectives on CUDA tensors (NCCL): drover
//! built with DROVER_WITH_CUDA against a CUDA libtorch.
bool BuiltWithCuda();

struct GroupOptions {
  //! Rendezvous over this store (the drover server's, via JobClient) instead
  //! of a TCPStore; the store_* fields are then unused.
  std::shared_ptr<KeyValue> kv;
  //! Host and port of the job's TCPStore.
  std::string store_host = "127.0.0.1";
  int store_port = 0;
  //! Host the TCPStore in this process (it lives as long as the ElasticGroup).
  bool is_store_server = false;
  //! Bounds store connection, rendezvous, and each collective.
  std::chrono::milliseconds timeout{3000};
  //! Address the Gloo TCP device binds and advertises to peers.
  std::string device_hostname = "127.0.0.1";
  //! Also form an NCCL group per generation, for AllReduceSum on CUDA
  //! tensors (one GPU per rank). Needs BuiltWithCuda(). Control traffic
  //! (state broadcast, barrier, CPU buffers) stays on Gloo either way.
  bool nccl = false;
};

class ElasticGroup {
 public:
  //! Connects to (or hosts) the TCPStore and creates the Gloo device. Also
  //! ignores SIGPIPE in this process unless the program handles it, so that a
  //! write to a dead peer fails instead of killing this one.
  //! InvalidArgument for a port outside 1..65535 or a non-positive timeout;
  //! Unavailable if the store cannot be reached or bound within the timeout.
  static Result<std::unique_ptr<ElasticGroup>> Create(const GroupOptions& options);

  ~ElasticGroup();
  ElasticGroup(const ElasticGroup&) = delete;
  ElasticGroup& operator=(const ElasticGroup&) = delete;

  //! Destroys the current group, if any, then forms generation `generation`
  //! as `rank` of `world_size`; blocks until all world_size ranks have called
  //! Form with the same generation, or the timeout passes.
  //! InvalidArgument (state unchanged) if rank is not in [0, world_size) or
  //! generation is not above every generation tried before (a prefix that a
  //! failed attempt may have half-filled is never reused).
  //! Unavailable if the rendezvous fails; the group is then unformed.
  Status Form(int64_t generation, int rank, int world_size);

  //! Element-wise sum over all ranks, in place. Every rank passes the same
  //! size; an empty buffer is a no-op. Gradients go in as one flat bucket.
  //! FailedPrecondition if not formed; Unavailable if the collective fails
  //! (the group is then torn down: call Form with a new generation).
  Status AllReduceSum(std::vector<float>& flat);
  //! The same over a contiguous float tensor: a CUDA tensor goes over NCCL
  //! (GroupOptions::nccl), or else through host memory over Gloo; a CPU one
  //! over Gloo. Blocks until the sum is in place. InvalidArgument for an
  //! undefined, non-float or non-contiguous tensor.
  Status AllReduceSum(at::Tensor& flat);
  //! Starts the same sum and returns without waiting; FinishAllReduces()
  //! waits for every one started since the last Finish. They run in the order
  //! started, which must be the same on every rank; `flat` must stay alive and
  //! untouched until Finish. Errors as AllReduceSum, from either call (a
  //! failure tears the group down and drops what was pending).
  Status StartAllReduceSum(at::Tensor& flat);
  Status FinishAllReduces();

  //! Copies `bytes` of rank `root` to every rank; others' buffers are resized
  //! to the root's size first (the size is broadcast ahead of the data).
  //! InvalidArgument if root is out of range; otherwise as AllReduceSum.
  Status Broadcast(std::vector<uint8_t>& bytes, int root);

  //! Returns once every rank has entered. Errors as AllReduceSum.
  Status Barrier();

  //! Tears down the current group (no-op if none); peers blocked in a
  //! collective with this rank then fail fast.
  void Leave();

  bool formed() const;
  //! The membership of the last successful Form (kept after a teardown, for
  //! the caller's rollback); -1 and 0 before the first.
  int64_t generation() const { return generation_; }
  int rank() const { return rank_; }
  int world_size() const { return world_size_; }

 private:
  struct Impl;
  explicit ElasticGroup(std::unique_ptr<Impl> impl);
  //! Names the op and the membership for error messages.
  std::string Where(const char* op) const;

  std::unique_ptr<Impl> impl_;
  int64_t generation_ = -1;
  int64_t last_tried_generation_ = -1;
  int rank_ = -1;
  int world_size_ = 0;
};

}  // namespace drover::train

// The only translation unit of drover that includes the c10d headers (they
// take ~8 s and 0.5 GB to compile and bring glog's LOG macro along).
#include "train/process_group.h"
#include "train/torch_error.h"

#include <ATen/ATen.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#ifdef DROVER_WITH_CUDA
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <signal.h>

#include <cstdlib>
#include <exception>
#include <mutex>
#include <string>
#include <utility>

#ifndef USE_C10D_GLOO
#error "process_group.cc needs USE_C10D_GLOO, or ProcessGroupGloo.hpp compiles to nothing"
#endif
#if defined(DROVER_WITH_CUDA) && !defined(USE_C10D_NCCL)
#error "DROVER_WITH_CUDA needs USE_C10D_NCCL, or ProcessGroupNCCL.hpp compiles to nothing"
#endif

namespace drover::train {

struct ElasticGroup::Impl {
  GroupOptions options;
  c10::intrusive_ptr<c10d::Store> store;
  std::shared_ptr<::gloo::transport::Device> device;
  //! Null when unformed.
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg;
  //! Started by StartAllReduceSum, awaited by FinishAllReduces.
  std::vector<std::pair<c10::intrusive_ptr<c10d::Work>, std::string>> pending;
#ifdef DROVER_WITH_CUDA
  //! The generation's NCCL group (GroupOptions::nccl); null otherwise.
  c10::intrusive_ptr<c10d::ProcessGroupNCCL> nccl;
#endif
};

bool BuiltWithCuda() {
#ifdef DROVER_WITH_CUDA
  return true;
#else
  return false;
#endif
}

namespace {

// c10d::Store over a KeyValue (the drover server's per-job store). c10d
// reports failure by throwing, so Status errors become c10::Error here and are
// caught again at ElasticGroup's edge. Gloo's rendezvous uses set, get and wait.
class KeyValueStore : public c10d::Store {
 public:
  KeyValueStore(std::shared_ptr<KeyValue> kv, std::chrono::milliseconds timeout,
                std::shared_ptr<std::mutex> mu = std::make_shared<std::mutex>())
      : c10d::Store(timeout), mu_(std::move(mu)), kv_(std::move(kv)) {}

  // libtorch >= 2.6 declares Store::clone() pure virtual (ProcessGroupNCCL
  // clones its store for a thread of its own); this overrides it there and is
  // an unused member on older ones, hence no `override`. The clone shares the
  // KeyValue and its lock: JobClient serves one call at a time.
  c10::intrusive_ptr<c10d::Store> clone() {
    return c10::make_intrusive<KeyValueStore>(kv_, timeout_, mu_);
  }

  void set(const std::string& key, const std::vector<uint8_t>& value) override {
    std::lock_guard<std::mutex> lock(*mu_);
    Throw(kv_->Set(key, value));
  }
  std::vector<uint8_t> get(const std::string& key) override {
    std::lock_guard<std::mutex> lock(*mu_);
    return Value(kv_->Get(key, timeout_));
  }
  int64_t add(const std::string& key, int64_t value) override {
    std::lock_guard<std::mutex> lock(*mu_);
    return Value(kv_->Add(key, value));
  }
  bool deleteKey(const std::string& key) override {
    std::lock_guard<std::mutex> lock(*mu_);
    return Value(kv_->Delete(key));
  }
  bool check(const std::vector<std::string>& keys) override {
    std::lock_guard<std::mutex> lock(*mu_);
    for (const auto& key : keys) {
      auto v = kv_->Get(key, std::chrono::milliseconds(0));
      if (!v.ok() && v.status().code() == StatusCode::kNotFound) return false;
      Value(std::move(v));
    }
    return true;
  }
  int64_t getNumKeys() override {
    std::lock_guard<std::mutex> lock(*mu_);
    return Value(kv_->NumKeys());
  }
  void wait(const std::vector<std::string>& keys) override { wait(keys, timeout_); }
  void wait(const std::vector<std::string>& keys, const std::chrono::milliseconds& timeout) override {
    std::lock_guard<std::mutex> lock(*mu_);
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (const auto& key : keys) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      Value(kv_->Get(key, std::max(left, std::chrono::milliseconds(0))));
    }
  }

 private:
  static void Throw(const Status& st) {
    if (!st.ok()) TORCH_CHECK(false, "rendezvous store: ", st.message());
  }
  template <typename T>
  static T Value(Result<T> r) {
    Throw(r.status());
    return std::move(*r);
  }

  std::shared_ptr<std::mutex> mu_;
  std::shared_ptr<KeyValue> kv_;
};

#ifdef DROVER_WITH_CUDA
// ncclCommAbort, so that a collective stuck on a lost peer returns and the
// destructor does not wait for it. ProcessGroupNCCL::abort() exists from
// libtorch 2.2 on; older ones abort in the destructor.
template <typename PG>
auto AbortCommunicators(PG& pg, int) -> decltype(pg.abort(), void()) {
  pg.abort();
}
template <typename PG>
void AbortCommunicators(PG&, long) {}
#endif

// Runs a collective's work to completion; libtorch reports failure by throwing.
Status Wait(const c10::intrusive_ptr<c10d::Work>& work, const std::string& where) {
  try {
    work->wait();
    return Status::Ok();
  } catch (const std::exception& e) {
    return Unavailable(where + ": " + FirstLine(e.what()));
  }
}

}  // namespace

ElasticGroup::ElasticGroup(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ElasticGroup::~ElasticGroup() { Leave(); }

Result<std::unique_ptr<ElasticGroup>> ElasticGroup::Create(const GroupOptions& options) {
  // Gloo writes to its peers with writev, which raises SIGPIPE when a peer
  // has died: by default that kills the survivor that was to carry on (Python
  // ignores SIGPIPE at startup, so PyTorch never meets this). A write to a
  // dead peer must fail with EPIPE instead. A handler the program set stays.
  struct sigaction pipe_action {};
  if (::sigaction(SIGPIPE, nullptr, &pipe_action) == 0 && pipe_action.sa_handler == SIG_DFL &&
      !(pipe_action.sa_flags & SA_SIGINFO)) {
    ::signal(SIGPIPE, SIG_IGN);
  }
  if (!options.kv && (options.store_port < 1 || options.store_port > 65535)) {
    return InvalidArgument("GroupOptions.store_port: " + std::to_string(options.store_port) +
                           " is not in 1..65535");
  }
  if (options.timeout.count() <= 0) {
    return InvalidArgument("GroupOptions.timeout: must be positive");
  }
  if (options.nccl && !BuiltWithCuda()) {
    return InvalidArgument(
        "GroupOptions.nccl: this drover was built without CUDA (configure with "
        "-DDROVER_WITH_CUDA=ON against a CUDA libtorch)");
  }
#ifdef DROVER_WITH_CUDA
  if (options.nccl) {
    // A collective that times out must throw in wait() (and abort only the
    // communicator), not end the process: survivors of a lost peer go on.
    // Both the current and the pre-2.2 names; the user's setting wins.
    for (const char* name : {"TORCH_NCCL_ASYNC_ERROR_HANDLING", "NCCL_ASYNC_ERROR_HANDLING"}) {
      ::setenv(name, "0", /*overwrite=*/0);
    }
    for (const char* name : {"TORCH_NCCL_BLOCKING_WAIT", "NCCL_BLOCKING_WAIT"}) {
      ::setenv(name, "1", /*overwrite=*/0);
    }
  }
#endif
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  if (options.kv) {
    impl->store = c10::make_intrusive<KeyValueStore>(options.kv, options.timeout);
  } else {
    const std::string store_name = options.store_host + ":" + std::to_string(options.store_port);
    try {
      c10d::TCPStoreOptions so;
      so.port = static_cast<std::uint16_t>(options.store_port);
      so.isServer = options.is_store_server;
      so.waitWorkers = false;  // membership changes; never wait for a count (numWorkers unset)
      so.timeout = options.timeout;
      impl->store = c10::make_intrusive<c10d::TCPStore>(options.store_host, so);
    } catch (const std::exception& e) {
      return Unavailable(std::string(options.is_store_server ? "hosting" : "connecting to") +
                         " TCPStore " + store_name + ": " + FirstLine(e.what()));
    }
  }
  try {
    impl->device = c10d::ProcessGroupGloo::createDeviceForHostname(options.device_hostname);
  } catch (const std::exception& e) {
    return Unavailable("Gloo device on " + options.device_hostname + ": " + FirstLine(e.what()));
  }
  return std::unique_ptr<ElasticGroup>(new ElasticGroup(std::move(impl)));
}

bool ElasticGroup::formed() const { return impl_ && impl_->pg; }

void ElasticGroup::Leave() {
  if (!impl_) return;
  impl_->pending.clear();
#ifdef DROVER_WITH_CUDA
  if (impl_->nccl) {
    try {
      AbortCommunicators(*impl_->nccl, 0);
    } catch (const std::exception&) {
      // Aborting a broken communicator may throw; it is dropped either way.
    }
    impl_->nccl.reset();
  }
#endif
  if (!impl_->pg) return;
  try {
    impl_->pg.reset();  // joins Gloo's worker threads and closes the pairs
  } catch (const std::exception&) {
    // A destructor that throws leaves nothing to recover; the group is gone.
  }
}

std::string ElasticGroup::Where(const char* op) const {
  return std::string(op) + " (generation " + std::to_string(generation_) + ", rank " +
         std::to_string(rank_) + " of world " + std::to_string(world_size_) + ")";
}

Status ElasticGroup::Form(int64_t generation, int rank, int world_size) {
  const std::string what = "Form(generation " + std::to_string(generation) + ", rank " +
                           std::to_string(rank) + ", world " + std::to_string(world_size) + ")";
  if (world_size < 1 || rank < 0 || rank >= world_size) {
    return InvalidArgument(what + ": rank must be in [0, world_size)");
  }
  if (generation <= last_tried_generation_) {
    return InvalidArgument(what + ": generation must exceed " +
                           std::to_string(last_tried_generation_) + ", the last one tried");
  }
  Leave();
  last_tried_generation_ = generation;
  try {
    auto store = c10::make_intrusive<c10d::PrefixStore>("gen" + std::to_string(generation) + "/",
                                                        impl_->store);
    auto opts = c10d::ProcessGroupGloo::Options::create(impl_->options.timeout);
    opts->devices.push_back(impl_->device);
    opts->threads = 2;
    impl_->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, world_size, opts);
#ifdef DROVER_WITH_CUDA
    if (impl_->options.nccl) {
      // The communicator itself is created at the first collective, after a
      // rendezvous under this prefix.
      auto nccl_store = c10::make_intrusive<c10d::PrefixStore>("nccl/", store);
      auto nccl_opts = c10d::ProcessGroupNCCL::Options::create();
      nccl_opts->timeout = impl_->options.timeout;
      impl_->nccl = c10::make_intrusive<c10d::ProcessGroupNCCL>(nccl_store, rank, world_size, nccl_opts);
    }
#endif
  } catch (const std::exception& e) {
    Leave();
    return Unavailable(what + ": " + FirstLine(e.what()));
  }
  generation_ = generation;
  rank_ = rank;
  world_size_ = world_size;
  return Status::Ok();
}

Status ElasticGroup::AllReduceSum(std::vector<float>& flat) {
  at::Tensor t = at::from_blob(flat.data(), {static_cast<int64_t>(flat.size())}, at::kFloat);
  return AllReduceSum(t);
}

Status ElasticGroup::AllReduceSum(at::Tensor& flat) {
  DROVER_RETURN_IF_ERROR(StartAllReduceSum(flat));
  return FinishAllReduces();
}

Status ElasticGroup::StartAllReduceSum(at::Tensor& flat) {
  if (!formed()) return FailedPrecondition("AllReduceSum: no group formed; call Form");
  const std::string where = Where("AllReduceSum");
  if (!flat.defined() || flat.scalar_type() != at::kFloat || !flat.is_contiguous()) {
    return InvalidArgument(where + ": needs a defined, contiguous float tensor");
  }
  if (flat.numel() == 0) return Status::Ok();
  Status st;
  try {
    std::vector<at::Tensor> tensors{flat};
    c10d::AllreduceOptions ao;
    ao.reduceOp = c10d::ReduceOp::SUM;
#ifdef DROVER_WITH_CUDA
    if (flat.is_cuda() && impl_->nccl) {
      impl_->pending.emplace_back(impl_->nccl->allreduce(tensors, ao), where + " over NCCL");
    } else
#endif
    if (flat.is_cuda()) {
      // No NCCL group (ranks sharing a GPU, say): through host memory over
      // Gloo, waited here since the result must be copied back.
      std::vector<at::Tensor> host{flat.to(at::kCPU)};
      st = Wait(impl_->pg->allreduce(host, ao), where);
      if (st.ok()) flat.copy_(host[0]);
    } else {
      impl_->pending.emplace_back(impl_->pg->allreduce(tensors, ao), where);
    }
  } catch (const std::exception& e) {
    st = Unavailable(where + ": " + FirstLine(e.what()));
  }
  if (!st.ok()) Leave();
  return st;
}

Status ElasticGroup::FinishAllReduces() {
  if (!impl_) return Status::Ok();
  Status st;
  for (auto& [work, where] : impl_->pending) {
    if (st.ok()) st = Wait(work, where);
  }
  impl_->pending.clear();
  if (!st.ok()) Leave();
  return st;
}

Status ElasticGroup::Broadcast(std::vector<uint8_t>& bytes, int root) {
  if (!formed()) return FailedPrecondition("Broadcast: no group formed; call Form");
  const std::string where = Where("Broadcast");
  if (root < 0 || root >= world_size_) {
    return InvalidArgument(where + ": root " + std::to_string(root) + " is not a rank");
  }
  Status st;
  try {
    c10d::BroadcastOptions bo;
    bo.rootRank = root;
    int64_t size = rank_ == root ? static_cast<int64_t>(bytes.size()) : 0;
    std::vector<at::Tensor> size_tensor{at::from_blob(&size, {1}, at::kLong)};
    st = Wait(impl_->pg->broadcast(size_tensor, bo), where + " of the size");
    if (st.ok() && size < 0) st = Internal(where + ": root sent size " + std::to_string(size));
    if (st.ok()) {
      if (rank_ != root) bytes.resize(static_cast<size_t>(size));
      if (size > 0) {
        std::vector<at::Tensor> data{at::from_blob(bytes.data(), {size}, at::kByte)};
        st = Wait(impl_->pg->broadcast(data, bo), where + " of " + std::to_string(size) + " bytes");
      }
    }
  } catch (const std::exception& e) {
    st = Unavailable(where + ": " + FirstLine(e.what()));
  }
  if (!st.ok()) Leave();
  return st;
}

Status ElasticGroup::Barrier() {
  if (!formed()) return FailedPrecondition("Barrier: no group formed; call Form");
  const std::string where = Where("Barrier");
  Status st;
  try {
    st = Wait(impl_->pg->barrier(), where);
  } catch (const std::exception& e) {
    st = Unavailable(where + ": " + FirstLine(e.what()));
  }
  if (!st.ok()) Leave();
  return st;
}

}  // namespace drover::train

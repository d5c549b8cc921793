#include "train/trainer.h"
#include "train/torch_error.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include <dlfcn.h>
#include <malloc.h>

#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>
#include <torch/torch.h>

namespace drover::train {
namespace {

// Two process settings that training on CPUs needs and the libraries do not
// set (measured on 2 CPUs, the CNN of drover-train: 2.5k samples/s as shipped,
// 4.4k-5.3k with both; see docs/notes/libtorch-on-debian.md):
//  - glibc malloc returns freed heap to the kernel beyond a 128 KiB top and
//    mmaps blocks past a (dynamic) threshold, so every step's activations
//    came back as fresh pages: a quarter of the time went to page faults and
//    zeroing. The step's blocks now stay in the heap (mmap threshold 32 MiB,
//    trim threshold 256 MiB), unless GLIBC_TUNABLES or MALLOC_*_ say otherwise.
//  - Debian's libtorch runs kernels on OpenMP threads but matrix products on
//    OpenBLAS's pthreads build, whose own threads (as many as CPUs) then fight
//    OpenMP's spinning ones. With more than one intra-op thread, OpenBLAS gets
//    one, unless OPENBLAS_NUM_THREADS is set; with one (a worker per CPU), its
//    threads use what the worker leaves idle and are kept. No-op without OpenBLAS.
// Called by Trainer::Create, so set torch's intra-op threads before it.
void TuneProcessForTraining() {
  static std::once_flag once;
  std::call_once(once, [] {
    const char* tunables = std::getenv("GLIBC_TUNABLES");
    const bool user_malloc = (tunables != nullptr && std::strstr(tunables, "malloc") != nullptr) ||
                             std::getenv("MALLOC_MMAP_THRESHOLD_") != nullptr ||
                             std::getenv("MALLOC_TRIM_THRESHOLD_") != nullptr;
    if (!user_malloc) {
      ::mallopt(M_MMAP_THRESHOLD, 32 << 20);
      ::mallopt(M_TRIM_THRESHOLD, 256 << 20);
    }
    if (std::getenv("OPENBLAS_NUM_THREADS") == nullptr && at::get_num_threads() > 1) {
      using SetThreads = void (*)(int);
      if (auto set = reinterpret_cast<SetThreads>(::dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) set(1);
    }
  });
}

Status TorchError(const char* what, const std::exception& e) {
  return Internal(std::string("trainer: ") + what + ": " + FirstLine(e.what()));
}

// Runs after a leaf's gradient accumulator has added to .grad().
class AfterAccumulate : public torch::autograd::FunctionPostHook {
 public:
  explicit AfterAccumulate(std::function<void()> fn) : fn_(std::move(fn)) {}
  torch::autograd::variable_list operator()(const torch::autograd::variable_list& outputs,
                                            const torch::autograd::variable_list& /*inputs*/) override {
    fn_();
    return outputs;
  }

 private:
  std::function<void()> fn_;
};

// Chunks of about a quarter of the bucket: big enough that a step starts
// only a few collectives, small enough that the last layers' chunk starts well
// before backward ends. 256 KiB to 25 MiB (DDP's bucket size).
int64_t ChunkFloats(int64_t total) {
  return std::clamp<int64_t>(total / 4, (256 << 10) / 4, (25 << 20) / 4);
}

int64_t NumElements(const std::vector<torch::Tensor>& ts) {
  int64_t n = 0;
  for (const auto& t : ts) n += t.numel();
  return n;
}

}  // namespace

Result<TensorDataset> ToTensors(const Dataset& dataset) {
  const auto& im = dataset.images;
  if (static_cast<size_t>(im.count) != dataset.labels.size() ||
      im.pixels.size() != static_cast<size_t>(im.count) * im.rows * im.cols) {
    return InvalidArgument("ToTensors: image and label counts or sizes differ");
  }
  try {
    TensorDataset out;
    auto bytes = torch::from_blob(const_cast<uint8_t*>(im.pixels.data()),
                                  {im.count, 1, im.rows, im.cols}, torch::kUInt8);
    out.images = bytes.to(torch::kFloat32).div_(255.0f);
    out.labels = torch::from_blob(const_cast<uint8_t*>(dataset.labels.data()),
                                  {static_cast<int64_t>(dataset.labels.size())}, torch::kUInt8)
                     .to(torch::kInt64);
    return out;
  } catch (const std::exception& e) {
    return TorchError("ToTensors", e);
  }
}

std::string DefaultDevice() {
  try {
    return torch::cuda::is_available() ? "cuda" : "cpu";
  } catch (const std::exception&) {
    return "cpu";
  }
}

OptimizerFactory SgdMomentum() {
  return [](std::vector<torch::Tensor> params, const TrainOptions& o)
             -> std::unique_ptr<torch::optim::Optimizer> {
    return std::make_unique<torch::optim::SGD>(
        std::move(params), torch::optim::SGDOptions(o.lr).momentum(o.momentum));
  };
}

Result<std::unique_ptr<Trainer>> Trainer::Create(std::shared_ptr<torch::nn::Module> module,
                                                 ForwardFn forward, TensorDataset data,
                                                 const TrainOptions& options,
                                                 OptimizerFactory optimizer) {
  if (!module || !forward) return InvalidArgument("Trainer: null module or forward");
  if (options.global_batch <= 0 || options.max_micro_batch <= 0) {
    return InvalidArgument("Trainer: global_batch and max_micro_batch must be positive");
  }
  if (options.epochs < 0 || options.max_steps < 0) {
    return InvalidArgument("Trainer: epochs and max_steps must not be negative");
  }
  if (!optimizer) optimizer = SgdMomentum();
  TuneProcessForTraining();
  std::optional<torch::Device> device;
  try {
    device.emplace(options.device);
  } catch (const std::exception&) {
    // A malformed string: refused just below, as an unsupported type is.
  }
  if (!device || !(device->is_cpu() || device->is_cuda())) {
    return InvalidArgument("Trainer: device '" + options.device + "': expected cpu, cuda or cuda:N");
  }
  if (device->is_cuda()) {
    const int64_t visible = static_cast<int64_t>(torch::cuda::device_count());
    if (visible == 0) {
      return FailedPrecondition("Trainer: device '" + options.device +
                                "': libtorch sees no CUDA device (a CPU-only libtorch, no driver, "
                                "or CUDA_VISIBLE_DEVICES empty)");
    }
    if (device->has_index() && device->index() >= visible) {
      return FailedPrecondition("Trainer: device '" + options.device + "': only " +
                                std::to_string(visible) + " CUDA device(s) visible");
    }
  }
  try {
    if (!data.images.defined() || !data.labels.defined() || data.images.dim() < 1 ||
        data.labels.dim() != 1 || data.images.size(0) != data.labels.size(0)) {
      return InvalidArgument("Trainer: images must be N x ... and labels N");
    }
    if (data.labels.scalar_type() != torch::kInt64) {
      return InvalidArgument("Trainer: labels must be int64");
    }
    auto sampler = ElasticSampler::Create(data.images.size(0), options.seed);
    if (!sampler.ok()) return sampler.status();
    module->to(*device);
    auto params = module->parameters();
    for (const auto& p : params) {
      if (p.scalar_type() != torch::kFloat32) {
        return InvalidArgument("Trainer: only float32 parameters are supported");
      }
    }
    auto opt = optimizer(params, options);
    if (!opt) return InvalidArgument("Trainer: the optimizer factory returned null");
    data.images = data.images.to(*device).contiguous();
    data.labels = data.labels.to(*device).contiguous();
    return std::unique_ptr<Trainer>(new Trainer(std::move(module), std::move(forward),
                                                std::move(data), options, *std::move(sampler),
                                                std::move(optimizer), std::move(opt), *device));
  } catch (const std::exception& e) {
    return TorchError("Create", e);
  }
}

Trainer::Trainer(std::shared_ptr<torch::nn::Module> module, ForwardFn forward,
                 TensorDataset data, const TrainOptions& options, ElasticSampler sampler,
                 OptimizerFactory factory, std::unique_ptr<torch::optim::Optimizer> optimizer,
                 torch::Device device)
    : module_(std::move(module)),
      forward_(std::move(forward)),
      data_(std::move(data)),
      options_(options),
      sampler_(std::move(sampler)),
      factory_(std::move(factory)),
      optimizer_(std::move(optimizer)),
      params_(module_->parameters()),
      device_(device),
      overlap_backward_(options_.overlap_backward.value_or(device.is_cuda())) {
  n_grad_ = NumElements(params_);
  bucket_ = torch::zeros({n_grad_ + 2}, torch::TensorOptions().dtype(torch::kFloat32).device(device_));
  int64_t off = 0;
  for (auto& p : params_) {
    grad_views_.push_back(bucket_.narrow(0, off, p.numel()).view(p.sizes()));
    p.mutable_grad() = grad_views_.back();
    off += p.numel();
  }
  // Chunks, from the end of the bucket (the loss and signal, then the last
  // parameters) towards its start.
  const int64_t cap = ChunkFloats(n_grad_ + 2);
  chunk_of_.assign(params_.size(), 0);
  int64_t end = n_grad_ + 2;  // the first chunk ends with the loss and signal ...
  Chunk chunk{.begin = n_grad_};  // ... after the last parameter
  for (size_t i = params_.size(); i-- > 0;) {
    chunk.begin -= params_[i].numel();
    ++chunk.params;
    chunk_of_[i] = chunks_.size();
    if (end - chunk.begin >= cap || i == 0) {
      chunk.size = end - chunk.begin;
      chunks_.push_back(chunk);
      end = chunk.begin;
      chunk = Chunk{.begin = end};
    }
  }
  if (chunks_.empty()) chunks_.push_back(Chunk{.begin = 0, .size = 2});  // no parameters
  self_ = std::make_shared<Trainer*>(this);
  for (size_t i = 0; i < params_.size(); ++i) {
    if (!params_[i].requires_grad()) continue;
    auto acc = torch::autograd::impl::grad_accumulator(params_[i]);
    if (!acc) continue;
    acc->add_post_hook(std::make_unique<AfterAccumulate>([self = self_, i] {
      if (*self) (*self)->OnGradientReady(i);
    }));
    accumulators_.push_back(std::move(acc));
  }
}

void Trainer::OnGradientReady(size_t i) {
  if (!overlap_) return;
  ++chunks_[chunk_of_[i]].ready;
  StartChunks(/*all=*/false);
}

void Trainer::StartChunks(bool all) {
  while (next_chunk_ < chunks_.size() &&
         (all || chunks_[next_chunk_].ready == chunks_[next_chunk_].params)) {
    const Chunk& c = chunks_[next_chunk_++];
    auto view = bucket_.narrow(0, c.begin, c.size);
    // The gradient part of the chunk (chunk 0 also carries the loss and signal).
    const int64_t grads = std::min(c.size, std::max<int64_t>(n_grad_ - c.begin, 0));
    if (grads > 0) {
      auto g = view.narrow(0, 0, grads);
      local_sqr_ = local_sqr_.defined() ? local_sqr_ + g.dot(g) : g.dot(g);
    }
    Status st = group_->StartAllReduceSum(view);
    if (!st.ok() && overlap_status_.ok()) overlap_status_ = st;
  }
}

void Trainer::ResetGradients() {
  for (size_t i = 0; i < params_.size(); ++i) {
    auto& p = params_[i];
    if (!p.grad().defined() || p.grad().data_ptr() != grad_views_[i].data_ptr()) {
      p.mutable_grad() = grad_views_[i];
    }
  }
  bucket_.zero_();
}

Trainer::~Trainer() {
  if (self_) *self_ = nullptr;
}

Result<StepMetrics> Trainer::Step() {
  try {
    return StepImpl();
  } catch (const std::exception& e) {
    overlap_ = false;
    // Chunks this rank started may not match its peers' any more: a new
    // group (the caller's rollback path) is the only safe way on.
    if (group_ != nullptr && group_->world_size() > 1) group_->Leave();
    return TorchError("Step", e);
  }
}

Result<StepMetrics> Trainer::StepImpl() {
  const auto t0 = std::chrono::steady_clock::now();
  int world = 1;
  int rank = 0;
  const bool collective = group_ != nullptr && group_->world_size() > 1;
  if (group_ != nullptr) {
    if (!group_->formed()) return FailedPrecondition("Trainer::Step: the group is not formed");
    world = group_->world_size();
    rank = group_->rank();
  }
  const int64_t global = sampler_.NextBatchSize(options_.global_batch);
  auto indices = sampler_.Next(options_.global_batch, world, rank);
  if (!indices.ok()) return indices.status();
  const int64_t local = static_cast<int64_t>(indices->size());

  module_->train();
  ResetGradients();
  // sum over this slice of loss_i / B: the slice's share of the global mean
  // loss. Backward accumulates into the bucket; the loss goes into its tail
  // without a device sync.
  auto loss_slot = bucket_.narrow(0, n_grad_, 1);
  const float local_signal = signal_ ? signal_() : 0.0f;
  bucket_[n_grad_ + 1].fill_(local_signal);
  for (auto& c : chunks_) c.ready = 0;
  next_chunk_ = 0;
  local_sqr_ = torch::Tensor();
  overlap_status_ = Status::Ok();
  auto all = torch::from_blob(indices->data(), {local}, torch::kInt64).to(device_);
  for (int64_t begin = 0; begin < local; begin += options_.max_micro_batch) {
    const int64_t n = std::min(options_.max_micro_batch, local - begin);
    auto idx = all.slice(0, begin, begin + n);
    auto x = data_.images.index_select(0, idx);
    auto y = data_.labels.index_select(0, idx);
    auto logits = forward_(x);
    auto loss = (loss_ ? loss_(logits, y)
                       : torch::nn::functional::cross_entropy(
                             logits, y, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))) /
                static_cast<double>(global);
    {
      torch::NoGradGuard no_grad;
      loss_slot.add_(loss.detach().reshape({1}));  // in before chunk 0 can start
    }
    // The last micro-batch's backward starts each chunk's reduction as soon
    // as the chunk is complete.
    overlap_ = collective && overlap_backward_ && begin + n >= local;
    loss.backward();
    overlap_ = false;
  }
  const int overlapped = static_cast<int>(next_chunk_);
  const auto t_compute = std::chrono::steady_clock::now();
  double local_sqr = 0, global_sqr = 0;
  if (collective) {
    StartChunks(/*all=*/true);  // what backward did not reach (unused parameters, an empty slice)
    Status finished = group_->FinishAllReduces();
    DROVER_RETURN_IF_ERROR(overlap_status_);
    DROVER_RETURN_IF_ERROR(finished);
    auto grads = bucket_.narrow(0, 0, n_grad_);
    if (local_sqr_.defined() && local > 0) {
      // The bucket holds slice/B of this rank's mean gradient; scale it back.
      const double share = static_cast<double>(global) / static_cast<double>(local);
      local_sqr = local_sqr_.item<double>() * share * share;
      global_sqr = grads.dot(grads).item<double>();
    }
  }
  const auto t_sync = std::chrono::steady_clock::now();
  auto tail = bucket_.narrow(0, n_grad_, 2).to(torch::kCPU);
  const double loss = tail[0].item<float>();
  const double signal = tail[1].item<float>();
  // Commit: nothing below can fail for want of peers.
  optimizer_->step();
  const int64_t epoch = sampler_.epoch();
  DROVER_RETURN_IF_ERROR(sampler_.Advance(options_.global_batch));
  ++step_;

  StepMetrics m;
  m.step = step_;
  m.epoch = epoch;
  m.loss = loss;
  m.global_samples = global;
  m.local_samples = local;
  m.world_size = world;
  m.signal = signal;
  m.chunks_overlapped = overlapped;
  m.indices = std::move(*indices);
  m.wall = std::chrono::steady_clock::now() - t0;
  m.compute = t_compute - t0;
  m.sync = t_sync - t_compute;
  m.local_grad_sqr = local_sqr;
  m.global_grad_sqr = global_sqr;
  m.samples_per_s = m.wall.count() > 0 ? global * 1e9 / static_cast<double>(m.wall.count()) : 0;
  if (on_step_) on_step_(m);
  if (sampler_.epoch() != epoch && on_epoch_end_) on_epoch_end_(epoch);
  return m;
}

Status Trainer::SetGlobalBatch(int64_t global_batch) {
  if (global_batch <= 0) return InvalidArgument("Trainer: global_batch must be positive");
  options_.global_batch = global_batch;
  return Status::Ok();
}

Status Trainer::SetLearningRate(double lr) {
  if (!(lr > 0)) return InvalidArgument("Trainer: the learning rate must be positive");
  try {
    for (auto& group : optimizer_->param_groups()) group.options().set_lr(lr);
  } catch (const std::exception& e) {
    return TorchError("SetLearningRate", e);
  }
  return Status::Ok();
}

Status Trainer::Run() {
  if (options_.epochs == 0 && options_.max_steps == 0) {
    return InvalidArgument("Trainer::Run: set epochs or max_steps");
  }
  for (;;) {
    if (options_.max_steps > 0 && step_ >= options_.max_steps) return Status::Ok();
    if (options_.epochs > 0 && sampler_.epoch() >= options_.epochs) return Status::Ok();
    auto m = Step();
    if (!m.ok()) return m.status();
  }
}

Result<std::vector<uint8_t>> Trainer::SaveState() {
  try {
    torch::serialize::OutputArchive archive;
    torch::NoGradGuard no_grad;
    for (const auto& item : module_->named_parameters()) {
      archive.write("param." + item.key(), item.value().detach().clone());
    }
    for (const auto& item : module_->named_buffers()) {
      archive.write("buffer." + item.key(), item.value().detach().clone());
    }
    torch::serialize::OutputArchive opt_archive(archive.compilation_unit());
    optimizer_->save(opt_archive);
    archive.write("optimizer", opt_archive);
    archive.write("step", torch::tensor({step_}, torch::kInt64));
    auto sampler = EncodeState(sampler_.state());
    archive.write("sampler", torch::from_blob(sampler.data(), {static_cast<int64_t>(sampler.size())},
                                              torch::kUInt8)
                                 .clone());
    {
      auto gen = at::detail::getDefaultCPUGenerator();
      std::lock_guard<std::mutex> lock(gen.mutex());
      archive.write("rng", gen.get_state());
    }
    std::vector<uint8_t> out;
    archive.save_to([&out](const void* data, size_t n) {
      const auto* p = static_cast<const uint8_t*>(data);
      out.insert(out.end(), p, p + n);
      return n;
    });
    return out;
  } catch (const std::exception& e) {
    return TorchError("SaveState", e);
  }
}

Status Trainer::LoadState(std::span<const uint8_t> bytes) {
  try {
    return LoadStateImpl(bytes);
  } catch (const std::exception& e) {
    Status s = TorchError("LoadState", e);
    return InvalidArgument(s.message());
  }
}

Status Trainer::LoadStateImpl(std::span<const uint8_t> bytes) {
  if (bytes.empty()) return InvalidArgument("Trainer::LoadState: empty state");
  torch::serialize::InputArchive archive;
  // Tensors land on this trainer's device, whatever device saved them.
  archive.load_from(reinterpret_cast<const char*>(bytes.data()), bytes.size(), device_);

  // Read and check everything before changing anything.
  std::vector<std::pair<torch::Tensor, torch::Tensor>> copies;  // (dest, src)
  auto read_all = [&](const char* prefix, const auto& named) -> Status {
    for (const auto& item : named) {
      torch::Tensor t;
      if (!archive.try_read(prefix + item.key(), t)) {
        return InvalidArgument("Trainer::LoadState: missing " + (prefix + item.key()));
      }
      if (!t.sizes().equals(item.value().sizes()) ||
          t.scalar_type() != item.value().scalar_type()) {
        return InvalidArgument("Trainer::LoadState: shape or type mismatch for " +
                               (prefix + item.key()));
      }
      copies.emplace_back(item.value(), t);
    }
    return Status::Ok();
  };
  DROVER_RETURN_IF_ERROR(read_all("param.", module_->named_parameters()));
  DROVER_RETURN_IF_ERROR(read_all("buffer.", module_->named_buffers()));

  torch::Tensor step_t, sampler_t, rng_t;
  if (!archive.try_read("step", step_t) || !archive.try_read("sampler", sampler_t) ||
      !archive.try_read("rng", rng_t)) {
    return InvalidArgument("Trainer::LoadState: missing step, sampler or rng");
  }
  {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    auto current = gen.get_state();
    if (rng_t.scalar_type() != current.scalar_type() || rng_t.numel() != current.numel()) {
      return InvalidArgument("Trainer::LoadState: malformed rng state");
    }
  }
  step_t = step_t.to(torch::kCPU);
  rng_t = rng_t.to(torch::kCPU);
  sampler_t = sampler_t.to(torch::kCPU).contiguous();
  if (sampler_t.scalar_type() != torch::kUInt8 || step_t.numel() != 1) {
    return InvalidArgument("Trainer::LoadState: malformed step or sampler");
  }
  auto state = DecodeState(std::span<const uint8_t>(sampler_t.data_ptr<uint8_t>(),
                                                    static_cast<size_t>(sampler_t.numel())));
  if (!state.ok()) return state.status();
  auto sampler = ElasticSampler::Restore(*state, data_.images.size(0));
  if (!sampler.ok()) return sampler.status();

  auto optimizer = factory_(params_, options_);
  torch::serialize::InputArchive opt_archive;
  if (!archive.try_read("optimizer", opt_archive)) {
    return InvalidArgument("Trainer::LoadState: missing optimizer");
  }
  optimizer->load(opt_archive);

  // Commit (no more checks below).
  {
    torch::NoGradGuard no_grad;
    for (auto& [dest, src] : copies) dest.copy_(src);
  }
  {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(rng_t);
  }
  optimizer_ = std::move(optimizer);
  sampler_ = *std::move(sampler);
  step_ = step_t.item<int64_t>();
  return Status::Ok();
}

Status Trainer::Synchronize(int root) {
  if (group_ == nullptr || group_->world_size() <= 1) return Status::Ok();
  std::vector<uint8_t> bytes;
  if (group_->rank() == root) {
    auto saved = SaveState();
    if (!saved.ok()) return saved.status();
    bytes = *std::move(saved);
  }
  DROVER_RETURN_IF_ERROR(group_->Broadcast(bytes, root));
  if (group_->rank() == root) return Status::Ok();
  return LoadState(bytes);
}

std::vector<float> Trainer::FlatParameters() const {
  std::vector<float> out;
  try {
    out.reserve(static_cast<size_t>(n_grad_));
    for (const auto& p : params_) {
      auto c = p.detach().to(torch::kCPU).contiguous();
      const float* d = c.data_ptr<float>();
      out.insert(out.end(), d, d + c.numel());
    }
  } catch (const std::exception&) {
    out.clear();
  }
  return out;
}

}  // namespace drover::train

// The libtorch half of drover-serve (see model_runner.h).
#include <dlfcn.h>
#include <sys/stat.h>

#include <atomic>
#include <cstdio>
#include <chrono>
#include <cstring>
#include <thread>

#include <torch/cuda.h>
#include <ATen/Parallel.h>
#include <torch/script.h>

#include "serve/model_runner.h"

namespace drover::serve {
namespace {

torch::ScalarType TorchType(DataType t) {
  switch (t) {
    case DataType::kFp32:
    case DataType::kFp16: return torch::kFloat;  // held as float; converted on the device
    case DataType::kInt64: return torch::kLong;
    case DataType::kInt32: return torch::kInt;
    case DataType::kBool: return torch::kBool;
  }
  return torch::kFloat;
}

class TorchRunner : public ModelRunner {
 public:
  TorchRunner(torch::jit::Module module, torch::Device device) : module_(std::move(module)), device_(device) {}

  Status Run(const std::vector<const Tensor*>& inputs, Signature& sig, bool learn,
             std::vector<Tensor>* outputs) override {
    try {
      c10::InferenceMode guard;
      return RunOrThrow(inputs, sig, learn, outputs);
    } catch (const std::exception& e) {
      std::string what = e.what();
      if (auto nl = what.find("\nException raised from"); nl != std::string::npos) what.resize(nl);
      return Internal("the model failed: " + what);
    }
  }

 private:
  Status RunOrThrow(const std::vector<const Tensor*>& inputs, Signature& sig, bool learn, std::vector<Tensor>* outputs) {
    int64_t total = 0;
    for (const Tensor* t : inputs) total += t->shape[0];
    std::vector<int64_t> shape{total};
    shape.insert(shape.end(), sig.input_shape.begin(), sig.input_shape.end());
    const torch::ScalarType held = TorchType(sig.input_type);
    torch::Tensor x;
    if (inputs.size() == 1) {
      // No copy: the request's bytes are read in place (the forward pass does not write its input).
      x = torch::from_blob(const_cast<uint8_t*>(inputs[0]->data.data()), shape, torch::TensorOptions(held));
    } else {
      x = torch::empty(shape, torch::TensorOptions(held));
      auto* dst = static_cast<uint8_t*>(x.data_ptr());
      for (const Tensor* t : inputs) {
        std::memcpy(dst, t->data.data(), t->data.size());
        dst += t->data.size();
      }
    }
    if (sig.input_type == DataType::kFp16) x = x.to(torch::kHalf);
    if (!device_.is_cpu()) x = x.to(device_);

    torch::jit::IValue result = module_.forward({x});
    if (result.isTuple() && !result.toTupleRef().elements().empty()) result = result.toTupleRef().elements()[0];
    if (!result.isTensor()) return Internal("the model returned " + result.tagKind() + ", not a tensor");
    torch::Tensor y = result.toTensor().to(torch::kCPU);
    DataType out_type = DataType::kFp32;
    switch (y.scalar_type()) {
      case torch::kHalf: out_type = DataType::kFp16; y = y.to(torch::kFloat); break;
      case torch::kLong: out_type = DataType::kInt64; break;
      case torch::kInt: out_type = DataType::kInt32; break;
      case torch::kBool: out_type = DataType::kBool; break;
      case torch::kFloat: break;
      default: y = y.to(torch::kFloat);
    }
    y = y.contiguous();
    if (y.dim() < 1 || y.size(0) != total) {
      return Internal("the model's output has shape " + c10::str(y.sizes()) + "; its first dimension should be the batch, " +
                      std::to_string(total));
    }
    if (learn) {
      sig.output_type = out_type;
      sig.output_shape.assign(y.sizes().begin() + 1, y.sizes().end());
    }
    const size_t row = static_cast<size_t>(y.numel() / total) * HeldSize(out_type);
    const auto* src = static_cast<const uint8_t*>(y.data_ptr());
    outputs->clear();
    outputs->reserve(inputs.size());
    for (const Tensor* t : inputs) {
      Tensor out;
      out.name = sig.output_name;
      out.datatype = out_type;
      out.shape.assign(y.sizes().begin(), y.sizes().end());
      out.shape[0] = t->shape[0];
      const size_t bytes = row * static_cast<size_t>(t->shape[0]);
      out.data.assign(src, src + bytes);
      src += bytes;
      outputs->push_back(std::move(out));
    }
    return Status::Ok();
  }

  torch::jit::Module module_;
  torch::Device device_;
};

}  // namespace

Result<std::unique_ptr<ModelRunner>> ModelRunner::Load(const ModelConfig& config) {
  struct stat st {};
  if (::stat(config.path.c_str(), &st) != 0) return NotFound("model file " + config.path + ": " + std::strerror(errno));
  std::optional<torch::Device> device;
  try {
    // "auto": the GPU the agent gave (CUDA_VISIBLE_DEVICES), if this libtorch sees one.
    device.emplace(config.device == "auto" ? (torch::cuda::is_available() ? "cuda" : "cpu") : config.device);
  } catch (const std::exception&) {
    return InvalidArgument("device \"" + config.device + "\": expected auto, cpu, cuda or cuda:N");
  }
  if (device->is_cuda() && !torch::cuda::is_available()) {
    return InvalidArgument("device \"" + config.device + "\": this libtorch sees no CUDA device");
  }
  if (config.threads > 0) {
    at::set_num_threads(config.threads);
    // OpenBLAS (Debian's libtorch calls it for some matrix products) keeps a
    // thread pool of its own whose idle threads spin in sched_yield: with
    // executors of their own threads that took a fifth of the CPU and cost
    // 35% of the throughput at 8 clients. Hold it to the same count.
    using SetThreads = void (*)(int);
    if (auto set = reinterpret_cast<SetThreads>(::dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) set(config.threads);
  }
  try {
    torch::jit::Module module = torch::jit::load(config.path, *device);
    module.eval();
    if (config.optimize) {
      // Freezing inlines the weights as constants and lets optimize_for_inference
      // fold and fuse (conv + relu, MKLDNN layouts on CPU): on the Fashion-MNIST
      // CNN a batch of 32 runs about 4x faster per sample. A model that cannot be
      // frozen (it mutates its attributes) runs as loaded.
      try {
        module = torch::jit::optimize_for_inference(module);
      } catch (const std::exception& e) {
        std::string what = e.what();
        if (auto nl = what.find('\n'); nl != std::string::npos) what.resize(nl);
        std::fprintf(stderr, "drover-serve: %s cannot be frozen for inference (%s); running it as loaded\n",
                     config.path.c_str(), what.c_str());
      }
    }
    return std::unique_ptr<ModelRunner>(new TorchRunner(std::move(module), *device));
  } catch (const std::exception& e) {
    std::string what = e.what();
    if (auto nl = what.find('\n'); nl != std::string::npos) what.resize(nl);
    return InvalidArgument("model file " + config.path + " is not a TorchScript model: " + what);
  }
}

Result<Ceiling> MeasureCeiling(const ModelConfig& config, const Signature& sig_in, int streams, int batch, double seconds) {
  std::vector<std::unique_ptr<ModelRunner>> runners;
  for (int i = 0; i < streams; ++i) {
    Result<std::unique_ptr<ModelRunner>> r = ModelRunner::Load(config);
    if (!r.ok()) return r.status();
    runners.push_back(std::move(*r));
  }
  Ceiling c;
  c.batch = batch;
  for (int64_t n : {int64_t{1}, int64_t{batch}}) {
    const Tensor x = ZeroInput(sig_in, n);
    std::atomic<int64_t> samples{0};
    std::atomic<bool> failed{false};
    std::vector<std::thread> threads;
    const auto start = std::chrono::steady_clock::now();
    for (auto& runner : runners) {
      threads.emplace_back([&, r = runner.get()] {
        Signature sig = sig_in;
        std::vector<Tensor> out;
        for (int i = 0; i < 3; ++i) failed = failed || !r->Run({&x}, sig, false, &out).ok();  // warm up
        const auto begin = std::chrono::steady_clock::now();
        while (!failed && std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count() < seconds) {
          if (!r->Run({&x}, sig, false, &out).ok()) failed = true;
          samples += n;
        }
      });
    }
    for (auto& t : threads) t.join();
    if (failed) return Internal("the model failed on zeros of shape [" + std::to_string(n) + ", ...]");
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double rate = static_cast<double>(samples.load()) / elapsed;
    if (n == 1) {
      c.unbatched_samples_per_s = rate;
      c.forward_ms = 1000.0 * streams / rate;
    } else {
      c.batched_samples_per_s = rate;
    }
  }
  return c;
}

}  // namespace drover::serve

// The built-in models of drover-train, and test-set accuracy.
//
// FashionCnn: conv(1→16, 5x5) → ReLU → maxpool 2 → conv(16→32, 5x5) → ReLU →
// maxpool 2 → linear(32·7·7 → 128) → ReLU → linear(128 → 10); 215k parameters.
// FashionMlp: 784 → 128 → ReLU → 10. bench/ddp_fashion_mnist.py defines the
// same two models in Python for the side-by-side benchmark.
#pragma once

#include <memory>
#include <string>

#include <torch/torch.h>

#include "common/status.h"
#include "train/trainer.h"

namespace drover::train {

struct FashionCnn : torch::nn::Module {
  FashionCnn()
      : conv1(register_module("conv1", torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 16, 5).padding(2)))),
        conv2(register_module("conv2", torch::nn::Conv2d(torch::nn::Conv2dOptions(16, 32, 5).padding(2)))),
        fc1(register_module("fc1", torch::nn::Linear(32 * 7 * 7, 128))),
        fc2(register_module("fc2", torch::nn::Linear(128, 10))) {}
  torch::Tensor forward(const torch::Tensor& x) {
    auto h = torch::max_pool2d(torch::relu(conv1->forward(x)), 2);
    h = torch::max_pool2d(torch::relu(conv2->forward(h)), 2);
    return fc2->forward(torch::relu(fc1->forward(h.flatten(1))));
  }
  torch::nn::Conv2d conv1, conv2;
  torch::nn::Linear fc1, fc2;
};

struct FashionMlp : torch::nn::Module {
  FashionMlp()
      : fc1(register_module("fc1", torch::nn::Linear(28 * 28, 128))),
        fc2(register_module("fc2", torch::nn::Linear(128, 10))) {}
  torch::Tensor forward(const torch::Tensor& x) { return fc2->forward(torch::relu(fc1->forward(x.flatten(1)))); }
  torch::nn::Linear fc1, fc2;
};

struct Model {
  std::shared_ptr<torch::nn::Module> module;
  ForwardFn forward;
};

//! "cnn" or "mlp", with parameters drawn from torch's generator seeded with `seed`.
inline Result<Model> MakeModel(const std::string& name, uint64_t seed) {
  torch::manual_seed(seed);
  if (name == "cnn") {
    auto m = std::make_shared<FashionCnn>();
    return Model{m, [m](const torch::Tensor& x) { return m->forward(x); }};
  }
  if (name == "mlp") {
    auto m = std::make_shared<FashionMlp>();
    return Model{m, [m](const torch::Tensor& x) { return m->forward(x); }};
  }
  return InvalidArgument("model '" + name + "': expected cnn or mlp");
}

//! Fraction of `data` classified correctly, in batches of 1000, without gradients.
inline double Accuracy(const Model& model, const TensorDataset& data) {
  torch::NoGradGuard no_grad;
  model.module->eval();
  int64_t correct = 0;
  const int64_t n = data.images.size(0);
  for (int64_t begin = 0; begin < n; begin += 1000) {
    const int64_t end = std::min(n, begin + 1000);
    auto logits = model.forward(data.images.slice(0, begin, end));
    correct += logits.argmax(1).eq(data.labels.slice(0, begin, end)).sum().item<int64_t>();
  }
  model.module->train();
  return n ? static_cast<double>(correct) / static_cast<double>(n) : 0.0;
}

}  // namespace drover::train

// An elastic training program of your own, linking drover's runtime.
//
// The model, optimizer, dataset and loss are the user's; drover::train::Fit
// does the rest: under drover the job grows and shrinks in-process as the
// scheduler moves GPUs, with the same model as a fixed-size run (constant
// global batch). Here: a two-layer network with dropout, trained with Adam
// and label smoothing on Fashion-MNIST.
//
//   cmake --build build --target drover-example-train
//   drover submit examples/custom-training/job.yaml
#include <cstdio>
#include <cstdlib>

#include <torch/torch.h>

#include "train/elastic_runner.h"
#include "train/idx_dataset.h"
#include "train/trainer.h"

struct Net : torch::nn::Module {
  Net()
      : fc1(register_module("fc1", torch::nn::Linear(784, 256))),
        fc2(register_module("fc2", torch::nn::Linear(256, 10))) {}
  torch::Tensor forward(const torch::Tensor& x) {
    auto h = torch::relu(fc1->forward(x.flatten(1)));
    return fc2->forward(torch::dropout(h, /*p=*/0.2, is_training()));
  }
  torch::nn::Linear fc1, fc2;
};

int main(int argc, char** argv) {
  namespace dt = drover::train;
  const std::string data = argc > 1 ? argv[1] : "/usr/share/datasets/fashion-mnist";
  auto raw = dt::LoadFashionMnist(data, /*train=*/true);
  if (!raw.ok()) return std::fprintf(stderr, "%s\n", raw.status().message().c_str()), 1;
  auto tensors = dt::ToTensors(*raw);
  if (!tensors.ok()) return std::fprintf(stderr, "%s\n", tensors.status().message().c_str()), 1;

  torch::manual_seed(7);  // every worker starts from the same model
  auto net = std::make_shared<Net>();
  dt::TrainOptions options;
  options.global_batch = 128;
  options.epochs = 1;
  options.lr = 1e-3;
  options.device = dt::DefaultDevice();  // a GPU when there is one: then NCCL between workers
  auto adam = [](std::vector<torch::Tensor> params, const dt::TrainOptions& o) {
    return std::make_unique<torch::optim::Adam>(std::move(params), torch::optim::AdamOptions(o.lr));
  };
  auto trainer = dt::Trainer::Create(
      net, [net](const torch::Tensor& x) { return net->forward(x); }, *tensors, options, adam);
  if (!trainer.ok()) return std::fprintf(stderr, "%s\n", trainer.status().message().c_str()), 1;
  (*trainer)->SetLoss([](const torch::Tensor& logits, const torch::Tensor& labels) {
    return torch::nn::functional::cross_entropy(
        logits, labels, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum).label_smoothing(0.1));
  });
  (*trainer)->OnEpochEnd([](int64_t epoch) { std::printf("epoch %lld done\n", static_cast<long long>(epoch)); });
  (*trainer)->OnStep([](const dt::StepMetrics& m) {
    if (m.step % 100 == 0) std::printf("step %lld loss %.4f on %d workers\n", static_cast<long long>(m.step), m.loss, m.world_size);
  });

  dt::ElasticOptions elastic;
  // A directory every worker can reach; a restarted job resumes from it.
  if (const char* dir = std::getenv("CHECKPOINT_DIR")) elastic.checkpoint_dir = dir;
  bool left = false;
  drover::Status st = dt::Fit(trainer->get(), elastic, &left);
  if (!st.ok()) return std::fprintf(stderr, "training failed: %s\n", st.message().c_str()), 1;
  std::printf(left ? "left the job early (scaled down)\n" : "trained %lld steps\n",
              static_cast<long long>((*trainer)->step()));
  return 0;
}

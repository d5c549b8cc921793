// Trainer across real processes. As in process_group_test.cc, every trainer
// (and the store host) runs in a forked child, so the gtest process never
// touches libtorch and never forks with libtorch threads alive. Children report
// through their exit code (0 = all checks passed) and a MAP_SHARED block that
// holds their final parameters and throughput, which the parent compares.
//
// The model is a 784-64-10 MLP; data is synthetic (seeded, identical in every
// process) except for the Fashion-MNIST loss check.
#include "train/trainer.h"
#include "train/models.h"
#include "train/multiprocess_test_util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace drover::train {
namespace {

using std::chrono::milliseconds;

using namespace mp;  // the multi-process helpers: Spawn, Reap, Connect, kTimeout, ...
constexpr int64_t kParams = 784 * 64 + 64 + 64 * 10 + 10;
const char* kFashionDir = "/usr/share/datasets/fashion-mnist";

// ---- the model and data ----
struct Mlp : torch::nn::Module {
  Mlp() {
    fc1 = register_module("fc1", torch::nn::Linear(784, 64));
    fc2 = register_module("fc2", torch::nn::Linear(64, 10));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    return fc2(torch::relu(fc1(x.flatten(1))));
  }
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
};

// The same tensors in every process: labels depend on the image (a hidden
// linear rule) so there is something to learn.
TensorDataset Synthetic(int64_t n) {
  torch::manual_seed(1234);
  TensorDataset d;
  d.images = torch::rand({n, 1, 28, 28});
  auto w = torch::randn({784, 10});
  d.labels = d.images.flatten(1).matmul(w).argmax(1).to(torch::kInt64);
  return d;
}

std::unique_ptr<Trainer> MakeTrainer(uint64_t init_seed, const TrainOptions& o,
                                     const TensorDataset& data) {
  torch::manual_seed(init_seed);
  auto m = std::make_shared<Mlp>();
  auto t = Trainer::Create(m, [m](const torch::Tensor& x) { return m->forward(x); }, data, o);
  CHILD_OK(t.status());
  return std::move(t).value();
}

TrainOptions Options(int64_t micro) {
  return TrainOptions{.global_batch = 64, .max_micro_batch = micro, .seed = 7, .lr = 0.05,
                      .momentum = 0.9};
}

// Written by children, read by the parent after they exit.
struct Shared {
  float params[3][kParams];
  std::atomic<double> samples_per_s[3];
  std::atomic<double> first_loss, last_loss;
  std::atomic<int> a_at_10{0};
  std::atomic<int> a_done{0};
  std::atomic<int> gpus{0};
};

template <typename T = Shared>
T* MapShared() {
  void* p = mmap(nullptr, sizeof(T), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  return new (p) T();
}

void Publish(Shared* sh, int slot, const Trainer& t) {
  auto p = t.FlatParameters();
  CHILD_CHECK(static_cast<int64_t>(p.size()) == kParams);
  std::copy(p.begin(), p.end(), sh->params[slot]);
}

// Runs `steps` steps; returns the mean samples/s.
double Train(Trainer& t, int steps) {
  double sps = 0;
  for (int i = 0; i < steps; ++i) {
    auto m = t.Step();
    CHILD_OK(m.status());
    sps += m->samples_per_s;
  }
  return sps / steps;
}

float MaxAbsDiff(const float* a, const float* b, int64_t n = kParams) {
  float d = 0;
  for (int64_t i = 0; i < n; ++i) d = std::max(d, std::fabs(a[i] - b[i]));
  return d;
}

// The reference every multi-rank run is compared with: one rank, one
// micro-batch of 64, `steps` steps; its parameters and samples/s go to slot 0.
pid_t SpawnReference(Shared* sh, int steps) {
  return Spawn([sh, steps] {
    auto t = MakeTrainer(1, Options(64), Synthetic(1024));
    sh->samples_per_s[0] = Train(*t, steps);
    Publish(sh, 0, *t);
    return 0;
  });
}

bool WaitFlag(const std::atomic<int>& flag, milliseconds limit) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (flag.load() == 0) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(milliseconds(2));
  }
  return true;
}

TEST(TrainerTest, SaveLoadReproducesTheNextStepBitwise) {
  pid_t child = Spawn([] {
    auto data = Synthetic(512);
    auto a = MakeTrainer(1, Options(16), data);  // 4 micro-batches per step
    Train(*a, 5);
    auto saved = a->SaveState();
    CHILD_OK(saved.status());
    auto draw_a = torch::rand({4});  // from the generator state just saved
    auto ma = a->Step();
    CHILD_OK(ma.status());

    auto b = MakeTrainer(2, Options(16), data);  // other init, no momentum yet
    CHILD_CHECK(b->FlatParameters() != a->FlatParameters());
    CHILD_OK(b->LoadState(*saved));
    CHILD_CHECK(b->step() == 5);
    CHILD_CHECK(b->sampler().cursor() == 5 * 64);
    // The default generator was restored too: it draws what `a`'s drew after saving.
    CHILD_CHECK(torch::equal(torch::rand({4}), draw_a));
    auto mb = b->Step();
    CHILD_OK(mb.status());
    CHILD_CHECK(mb->loss == ma->loss);
    CHILD_CHECK(b->FlatParameters() == a->FlatParameters());  // bitwise
    CHILD_CHECK(b->sampler().state() == a->sampler().state());

    // Garbage and truncated states are refused without changing anything.
    auto before = b->FlatParameters();
    std::vector<uint8_t> junk(100, 7);
    CHILD_CHECK(b->LoadState(junk).code() == StatusCode::kInvalidArgument);
    std::vector<uint8_t> half(saved->begin(), saved->begin() + saved->size() / 2);
    CHILD_CHECK(!b->LoadState(half).ok());
    CHILD_CHECK(b->FlatParameters() == before);
    CHILD_CHECK(b->step() == 6);
    return 0;
  });
  auto st = Reap({child}, milliseconds(60000));
  EXPECT_TRUE(ExitedOk(st[0])) << Describe(st[0]);
}

TEST(TrainerTest, RunStopsAfterEpochsAndCallsHooks) {
  pid_t child = Spawn([] {
    auto data = Synthetic(200);  // 64, 64, 64, 8 per epoch
    TrainOptions o = Options(64);
    o.epochs = 2;
    auto t = MakeTrainer(1, o, data);
    std::vector<int64_t> ended;
    int steps = 0;
    int64_t samples = 0;
    t->OnEpochEnd([&](int64_t e) { ended.push_back(e); });
    t->OnStep([&](const StepMetrics& m) {
      ++steps;
      samples += m.global_samples;
    });
    CHILD_OK(t->Run());
    CHILD_CHECK(steps == 8 && t->step() == 8);
    CHILD_CHECK(samples == 400);
    CHILD_CHECK((ended == std::vector<int64_t>{0, 1}));
    return 0;
  });
  auto st = Reap({child}, milliseconds(60000));
  EXPECT_TRUE(ExitedOk(st[0])) << Describe(st[0]);
}

// 30 steps of global batch 64: one process (one micro-batch of 64) vs two
// (32 each, one flat all-reduce per step). Only the float summation order
// differs, so the models agree to rounding.
TEST(TrainerTest, TwoRanksMatchOneRank) {
  Shared* sh = MapShared();
  const int port = FreePort();
  pid_t store = SpawnStore(port);
  std::vector<pid_t> pids = {SpawnReference(sh, 30)};
  for (int r = 0; r < 2; ++r) {
    pids.push_back(Spawn([sh, port, r] {
      auto g = Connect(port);
      CHILD_OK(g->Form(0, r, 2));
      auto t = MakeTrainer(1, Options(32), Synthetic(1024));
      t->SetGroup(g.get());
      sh->samples_per_s[1 + r] = Train(*t, 30);
      CHILD_CHECK(t->step() == 30);
      Publish(sh, 1 + r, *t);
      return 0;
    }));
  }
  auto st = Reap(pids, milliseconds(90000));
  KillAndReap(store);
  for (size_t i = 0; i < st.size(); ++i) ASSERT_TRUE(ExitedOk(st[i])) << i << ": " << Describe(st[i]);
  const float d01 = MaxAbsDiff(sh->params[0], sh->params[1]);
  const float d12 = MaxAbsDiff(sh->params[1], sh->params[2]);
  std::printf("1 rank vs 2 ranks after 30 steps: max |diff| = %.3g (ranks 0 vs 1: %.3g); "
              "samples/s: 1 rank %.0f, 2 ranks %.0f / %.0f\n",
              d01, d12, sh->samples_per_s[0].load(), sh->samples_per_s[1].load(),
              sh->samples_per_s[2].load());
  EXPECT_LT(d01, 1e-5f);
  EXPECT_EQ(d12, 0.0f);  // both ranks apply the same all-reduced gradient
}

// 10 steps at world 1, a newcomer joins (gen 1, gets rank 0's state), 10 steps
// at world 2, the newcomer leaves (gen 2, world 1), 10 more steps: the same
// model as 30 static steps at world 1, to rounding.
TEST(TrainerTest, OneTwoOneResizeMatchesStaticRun) {
  Shared* sh = MapShared();
  const int port = FreePort();
  pid_t store = SpawnStore(port);
  pid_t single = SpawnReference(sh, 30);
  pid_t incumbent = Spawn([sh, port] {
    auto g = Connect(port);
    CHILD_OK(g->Form(0, 0, 1));
    auto t = MakeTrainer(1, Options(32), Synthetic(1024));
    t->SetGroup(g.get());
    Train(*t, 10);
    sh->a_at_10 = 1;
    CHILD_OK(g->Form(1, 0, 2));
    CHILD_OK(t->Synchronize(0));
    Train(*t, 10);
    CHILD_OK(g->Form(2, 0, 1));
    Train(*t, 10);
    CHILD_CHECK(t->step() == 30);
    Publish(sh, 1, *t);
    sh->a_done = 1;
    return 0;
  });
  pid_t newcomer = Spawn([sh, port] {
    auto t = MakeTrainer(99, Options(32), Synthetic(1024));  // another init: must be overwritten
    auto g = Connect(port);
    CHILD_CHECK(WaitFlag(sh->a_at_10, milliseconds(30000)));
    CHILD_OK(g->Form(1, 1, 2));
    t->SetGroup(g.get());
    CHILD_OK(t->Synchronize(0));
    CHILD_CHECK(t->step() == 10);
    Train(*t, 10);
    Publish(sh, 2, *t);
    g->Leave();
    CHILD_CHECK(WaitFlag(sh->a_done, milliseconds(30000)));
    return 0;
  });
  auto st = Reap({single, incumbent, newcomer}, milliseconds(90000));
  KillAndReap(store);
  for (size_t i = 0; i < st.size(); ++i) ASSERT_TRUE(ExitedOk(st[i])) << i << ": " << Describe(st[i]);
  const float d = MaxAbsDiff(sh->params[0], sh->params[1]);
  std::printf("1->2->1 resize vs static 1 rank after 30 steps: max |diff| = %.3g\n", d);
  EXPECT_LT(d, 1e-5f);
}

// Every gradient is a view of the step's bucket, which is what gets reduced.
// Ranks whose grads are dropped between steps (an optimizer's
// zero_grad(set_to_none)) must still reduce them: the trainer re-attaches the
// views, and two such ranks match one rank.
TEST(TrainerTest, DroppedGradientsAreReattachedToTheBucket) {
  Shared* sh = MapShared();
  const int port = FreePort();
  pid_t store = SpawnStore(port);
  std::vector<pid_t> ranks{SpawnReference(sh, 10)};
  for (int r = 0; r < 2; ++r) {
    ranks.push_back(Spawn([sh, port, r] {
      auto g = Connect(port);
      CHILD_OK(g->Form(0, r, 2));
      torch::manual_seed(1);
      auto m = std::make_shared<Mlp>();
      auto t = Trainer::Create(m, [m](const torch::Tensor& x) { return m->forward(x); },
                               Synthetic(1024), Options(64));
      CHILD_OK(t.status());
      (*t)->SetGroup(g.get());
      for (int i = 0; i < 10; ++i) {
        for (auto& p : m->parameters()) p.mutable_grad() = torch::Tensor();  // set_to_none
        CHILD_OK((*t)->Step().status());
      }
      Publish(sh, 1 + r, **t);
      return 0;
    }));
  }
  for (int st : Reap(ranks, milliseconds(60000))) EXPECT_TRUE(ExitedOk(st)) << Describe(st);
  KillAndReap(store);
  EXPECT_LT(MaxAbsDiff(sh->params[0], sh->params[1]), 1e-5f);
  EXPECT_EQ(MaxAbsDiff(sh->params[1], sh->params[2]), 0.0f);
}

// The CNN's bucket is reduced in two chunks (fc layers and the loss, then the
// convolutions), the first started from backward's hooks while the
// convolutions' backward still runs. Two ranks overlapping so match one rank.
TEST(TrainerTest, ChunksReducedDuringBackwardMatchOneRank) {
  constexpr int64_t kCnnMax = 300000;  // floats: the CNN has 215k parameters
  struct Result {
    float params[3][kCnnMax];
    std::atomic<int> chunks{0};
  };
  auto* res = MapShared<Result>();
  auto run = [res](int slot, int rank, int world, int port) {
    auto model = MakeModel("cnn", 3);
    CHILD_OK(model.status());
    TrainOptions o = Options(64);
    o.global_batch = 32;
    o.overlap_backward = true;
    auto t = Trainer::Create(model->module, model->forward, Synthetic(512), o);
    CHILD_OK(t.status());
    std::unique_ptr<ElasticGroup> g;
    if (world > 1) {
      g = Connect(port);
      CHILD_OK(g->Form(0, rank, world));
      (*t)->SetGroup(g.get());
    }
    for (int i = 0; i < 8; ++i) {
      auto m = (*t)->Step();
      CHILD_OK(m.status());
      // Every chunk started from backward's hooks: the fc one while the
      // convolutions' backward still had to run, the last with conv1's gradient.
      CHILD_CHECK(m->chunks_overlapped == (world > 1 ? static_cast<int>((*t)->chunks()) : 0));
    }
    auto p = (*t)->FlatParameters();
    CHILD_CHECK(static_cast<int64_t>(p.size()) <= kCnnMax);
    std::copy(p.begin(), p.end(), res->params[slot]);
    res->chunks = static_cast<int>((*t)->chunks());
    return 0;
  };
  const int port = FreePort();
  pid_t store = SpawnStore(port);
  std::vector<pid_t> pids{Spawn([&] { return run(0, 0, 1, port); }), Spawn([&] { return run(1, 0, 2, port); }),
                          Spawn([&] { return run(2, 1, 2, port); })};
  for (int st : Reap(pids, milliseconds(120000))) EXPECT_TRUE(ExitedOk(st)) << Describe(st);
  KillAndReap(store);
  EXPECT_GE(res->chunks.load(), 2);
  const float one_vs_two = MaxAbsDiff(res->params[0], res->params[1], kCnnMax);
  const float between = MaxAbsDiff(res->params[1], res->params[2], kCnnMax);
  std::printf("CNN, %d chunks, overlapped: 1 rank vs 2 ranks after 8 steps max |diff| = %.3g (ranks: %.3g)\n",
              res->chunks.load(), one_vs_two, between);
  EXPECT_LT(one_vs_two, 1e-5f);
  EXPECT_EQ(between, 0.0f);
}

TEST(TrainerTest, RefusesAMalformedOrAbsentDevice) {
  pid_t child = Spawn([] {
    auto data = Synthetic(64);
    auto m = std::make_shared<Mlp>();
    auto forward = [m](const torch::Tensor& x) { return m->forward(x); };
    for (const char* bad : {"gpu", "cuda:x", "xla", ""}) {
      TrainOptions o = Options(64);
      o.device = bad;
      auto t = Trainer::Create(m, forward, data, o);
      CHILD_CHECK(t.status().code() == StatusCode::kInvalidArgument);
      CHILD_CHECK(t.status().message().find("device") != std::string::npos);
    }
    TrainOptions o = Options(64);
    o.device = "cuda:" + std::to_string(torch::cuda::device_count());  // one past the last
    auto t = Trainer::Create(m, forward, data, o);
    CHILD_CHECK(t.status().code() == StatusCode::kFailedPrecondition);
    CHILD_CHECK(m->parameters()[0].device().is_cpu());  // nothing moved
    CHILD_CHECK(DefaultDevice() == (torch::cuda::is_available() ? "cuda" : "cpu"));
    return 0;
  });
  auto st = Reap({child}, milliseconds(60000));
  EXPECT_TRUE(ExitedOk(st[0])) << Describe(st[0]);
}

// The GPU path (bench/gpu-check.sh runs it on a machine with one): a trainer
// on CUDA matches the CPU one, a world of one reduces a CUDA bucket over NCCL,
// and two ranks on CUDA match one rank on the CPU — over NCCL with two GPUs,
// through host memory over Gloo when they must share one (NCCL refuses two
// ranks on one device). Skipped without a CUDA build and a visible GPU.
TEST(TrainerTest, CudaTrainingMatchesCpuAndReducesOverNccl) {
  if (!BuiltWithCuda()) GTEST_SKIP() << "built without DROVER_WITH_CUDA";
  Shared* sh = MapShared();
  // The parent must not initialise CUDA before forking: a child counts.
  pid_t counter = Spawn([sh] {
    sh->gpus = static_cast<int>(torch::cuda::device_count());
    return 0;
  });
  ASSERT_TRUE(ExitedOk(Reap({counter}, milliseconds(60000))[0]));
  const int gpus = sh->gpus.load();
  if (gpus == 0) GTEST_SKIP() << "no CUDA device visible";

  ASSERT_TRUE(ExitedOk(Reap({SpawnReference(sh, 20)}, milliseconds(60000))[0]));

  const int port = FreePort();
  pid_t store = SpawnStore(port);
  pid_t single = Spawn([sh, port] {
    TrainOptions o = Options(64);
    o.device = "cuda";
    auto t = MakeTrainer(1, o, Synthetic(1024));
    CHILD_CHECK(t->device().is_cuda());
    GroupOptions go{.store_host = "127.0.0.1", .store_port = port, .timeout = kTimeout, .nccl = true};
    auto g = ElasticGroup::Create(go);
    CHILD_OK(g.status());
    CHILD_OK((*g)->Form(0, 0, 1));
    auto x = torch::arange(5, torch::TensorOptions().dtype(torch::kFloat32).device(torch::kCUDA));
    CHILD_OK((*g)->AllReduceSum(x));  // NCCL, world of one
    CHILD_CHECK(torch::equal(x.cpu(), torch::arange(5, torch::kFloat32)));
    Train(*t, 20);
    Publish(sh, 1, *t);
    return 0;
  });
  EXPECT_TRUE(ExitedOk(Reap({single}, milliseconds(120000))[0]));
  const float one_gpu = MaxAbsDiff(sh->params[0], sh->params[1]);
  EXPECT_LT(one_gpu, 1e-4f);

  const bool nccl = gpus >= 2;
  std::vector<pid_t> ranks;
  for (int r = 0; r < 2; ++r) {
    ranks.push_back(Spawn([sh, port, r, nccl] {
      TrainOptions o = Options(32);
      o.device = nccl ? "cuda:" + std::to_string(r) : "cuda";
      auto t = MakeTrainer(1, o, Synthetic(1024));
      GroupOptions go{.store_host = "127.0.0.1", .store_port = port, .timeout = kTimeout, .nccl = nccl};
      auto g = ElasticGroup::Create(go);
      CHILD_OK(g.status());
      CHILD_OK((*g)->Form(1, r, 2));
      t->SetGroup(g->get());
      Train(*t, 20);
      if (r == 0) Publish(sh, 2, *t);
      return 0;
    }));
  }
  for (int st : Reap(ranks, milliseconds(120000))) EXPECT_TRUE(ExitedOk(st)) << Describe(st);
  KillAndReap(store);
  const float two_gpu = MaxAbsDiff(sh->params[0], sh->params[2]);
  std::printf("CUDA vs CPU after 20 steps: 1 rank max |diff| = %.3g; 2 ranks (%s) = %.3g\n", one_gpu,
              nccl ? "NCCL, one GPU each" : "one shared GPU, Gloo through host memory", two_gpu);
  EXPECT_LT(two_gpu, 1e-4f);
}

TEST(TrainerTest, MlpLossDecreasesOnFashionMnist) {
  if (!std::filesystem::exists(std::string(kFashionDir) + "/train-images-idx3-ubyte.gz")) {
    GTEST_SKIP() << "Fashion-MNIST not installed in " << kFashionDir;
  }
  Shared* sh = MapShared();
  pid_t child = Spawn([sh] {
    auto raw = LoadFashionMnist(kFashionDir, /*train=*/true);
    CHILD_OK(raw.status());
    auto data = ToTensors(*raw);
    CHILD_OK(data.status());
    CHILD_CHECK(data->images.size(0) == 60000);
    auto t = MakeTrainer(1, Options(64), *data);
    std::vector<double> losses;
    double sps = 0;
    t->OnStep([&](const StepMetrics& m) {
      losses.push_back(m.loss);
      sps += m.samples_per_s;
    });
    for (int i = 0; i < 50; ++i) CHILD_OK(t->Step().status());
    auto mean = [](auto b, auto e) { double s = 0; int n = 0; for (; b != e; ++b, ++n) s += *b; return s / n; };
    sh->first_loss = mean(losses.begin(), losses.begin() + 5);
    sh->last_loss = mean(losses.end() - 5, losses.end());
    sh->samples_per_s[0] = sps / 50;
    return 0;
  });
  auto st = Reap({child}, milliseconds(60000));
  ASSERT_TRUE(ExitedOk(st[0])) << Describe(st[0]);
  std::printf("Fashion-MNIST MLP, 50 steps of 64: loss %.3f (first 5) -> %.3f (last 5), %.0f samples/s\n",
              sh->first_loss.load(), sh->last_loss.load(), sh->samples_per_s[0].load());
  EXPECT_LT(sh->last_loss.load(), 0.7 * sh->first_loss.load());
}

}  // namespace
}  // namespace drover::train

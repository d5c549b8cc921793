// drover-train: the built-in elastic trainer (Fashion-MNIST, CNN or MLP).
//
// Under drover it follows its job's membership (ElasticRunner); run by hand
// it trains alone, or as one of a fixed group given RANK, WORLD_SIZE,
// MASTER_ADDR and MASTER_PORT. Rank 0 prints progress and, at the end, one
// JSON summary line ("summary {...}") that benchmarks and tests read.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <thread>

#include "train/elastic_runner.h"
#include "train/idx_dataset.h"
#include "train/models.h"
#include "train/trainer.h"

namespace {

using namespace drover::train;
using Clock = std::chrono::steady_clock;

struct Flags {
  std::string model = "cnn";
  std::string data = "/usr/share/datasets/fashion-mnist";
  int64_t train_limit = 0;
  int64_t epochs = 1;
  int64_t max_steps = 0;
  int64_t global_batch = 64;
  int64_t micro_batch = 64;
  std::string batch_mode = "global";
  int64_t per_worker_batch = 64;
  int64_t max_batch = 0;
  std::string lr_scaling = "none";
  double lr = 0.05;
  double momentum = 0.9;
  uint64_t seed = 1;
  std::string checkpoint_dir;
  int64_t checkpoint_every = 0;
  int64_t eval_every = 0;
  double target_accuracy = 0;
  bool epoch_metrics = false;
  int threads = 0;
  int64_t min_step_ms = 0;
  int64_t collective_timeout_ms = 5000;
  int64_t log_every = 50;
  int64_t warmup_steps = 5;
  std::string record_samples;
  std::string save_params;
  std::string device = "auto";
  std::string collectives = "auto";
  std::string overlap = "auto";
};

int Fail(const std::string& what) {
  std::fprintf(stderr, "drover-train: %s\n", what.c_str());
  return 1;
}

std::string Slot() {
  const char* r = std::getenv("RANK");
  return r && *r ? r : "0";
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"drover-train: elastic data-parallel training of a Fashion-MNIST model"};
  Flags f;
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);  // a later flag overrides
  app.add_option("--model", f.model, "cnn or mlp")->capture_default_str();
  app.add_option("--data", f.data, "directory of the Fashion-MNIST IDX files")->capture_default_str();
  app.add_option("--train-limit", f.train_limit, "train on the first N samples only (0: all)");
  app.add_option("--epochs", f.epochs, "epochs to train (0: no limit)")->capture_default_str();
  app.add_option("--max-steps", f.max_steps, "steps to train (0: no limit)");
  app.add_option("--global-batch", f.global_batch, "samples per step over all workers")->capture_default_str();
  app.add_option("--micro-batch", f.micro_batch, "largest forward/backward per worker")->capture_default_str();
  app.add_option("--batch-mode", f.batch_mode,
                 "global (constant global batch), per-worker, or adaptive (the global batch with the best "
                 "goodput at each size, from --global-batch up to --max-batch, learning rate scaled by its gain)")
      ->capture_default_str();
  app.add_option("--per-worker-batch", f.per_worker_batch, "samples per worker per step (per-worker mode)");
  app.add_option("--max-batch", f.max_batch, "adaptive mode: the largest global batch (default 8 x --global-batch)");
  app.add_option("--lr-scaling", f.lr_scaling, "per-worker mode: none, linear or sqrt")->capture_default_str();
  app.add_option("--lr", f.lr, "learning rate (SGD)")->capture_default_str();
  app.add_option("--momentum", f.momentum, "SGD momentum")->capture_default_str();
  app.add_option("--seed", f.seed, "seeds the model and the data order")->capture_default_str();
  app.add_option("--checkpoint-dir", f.checkpoint_dir, "resume from and save to this directory");
  app.add_option("--checkpoint-every", f.checkpoint_every, "steps between checkpoints (0: at the end)");
  app.add_option("--eval-every", f.eval_every, "steps between test-set evaluations (0: at the end)");
  app.add_option("--target-accuracy", f.target_accuracy, "stop once test accuracy reaches this (needs --eval-every)");
  app.add_flag("--epoch-metrics", f.epoch_metrics,
               "after each epoch, rank 0 evaluates on the test set and prints `drover-metric {\"epoch\": E, "
               "\"loss\": L, \"samples_per_s\": S, \"test_acc\": A}` (ElasticOptions::epoch_metrics), the line "
               "drover's experiments collect");
  app.add_option("--threads", f.threads, "torch intra-op threads (0: torch's default)");
  app.add_option("--min-step-ms", f.min_step_ms, "throttle: least wall time of a step (tests, demos)");
  app.add_option("--collective-timeout-ms", f.collective_timeout_ms, "how long a frozen peer can stall a step")
      ->capture_default_str();
  app.add_option("--log-every", f.log_every, "steps between progress lines (0: none)")->capture_default_str();
  app.add_option("--warmup-steps", f.warmup_steps, "steps left out of the summary's samples/s")
      ->capture_default_str();
  app.add_option("--record-samples", f.record_samples, "append each step's sample indices to DIR/samples-<slot>.txt");
  app.add_option("--save-params", f.save_params, "rank 0 writes the final parameters (float32) to this file");
  app.add_option("--device", f.device,
                 "auto (a GPU when libtorch sees one), cpu, cuda (the first visible GPU) or cuda:N")
      ->capture_default_str();
  app.add_option("--collectives", f.collectives,
                 "on a GPU: nccl, or gloo (through host memory; ranks sharing one GPU); auto is nccl")
      ->check(CLI::IsMember({"auto", "nccl", "gloo"}))
      ->capture_default_str();
  app.add_option("--overlap", f.overlap,
                 "reduce gradient chunks while backward runs: on, off, or auto (on a GPU only)")
      ->check(CLI::IsMember({"auto", "on", "off"}))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  if (f.target_accuracy > 0 && f.eval_every <= 0) return Fail("--target-accuracy needs --eval-every");
  if (f.threads > 0) torch::set_num_threads(f.threads);
  auto mode = ParseBatchMode(f.batch_mode);
  if (!mode.ok()) return Fail(mode.status().message());
  auto scaling = ParseLrScaling(f.lr_scaling);
  if (!scaling.ok()) return Fail(scaling.status().message());

  auto train_set = LoadFashionMnist(f.data, /*train=*/true);
  if (!train_set.ok()) return Fail(train_set.status().message());
  auto test_set = LoadFashionMnist(f.data, /*train=*/false);
  if (!test_set.ok()) return Fail(test_set.status().message());
  auto train = ToTensors(*train_set);
  auto test = ToTensors(*test_set);
  if (!train.ok() || !test.ok()) return Fail("converting the dataset to tensors failed");
  if (f.train_limit > 0 && f.train_limit < train->images.size(0)) {
    train->images = train->images.slice(0, 0, f.train_limit).contiguous();
    train->labels = train->labels.slice(0, 0, f.train_limit).contiguous();
  }
  auto model = MakeModel(f.model, f.seed);
  if (!model.ok()) return Fail(model.status().message());

  TrainOptions to;
  to.global_batch = *mode == BatchMode::kConstantPerWorker ? f.per_worker_batch : f.global_batch;
  to.max_micro_batch = f.micro_batch;
  to.epochs = f.epochs;
  to.max_steps = f.max_steps;
  to.seed = f.seed;
  to.lr = f.lr;
  to.momentum = f.momentum;
  to.device = f.device == "auto" ? DefaultDevice() : f.device;
  if (f.overlap != "auto") to.overlap_backward = f.overlap == "on";
  if (to.epochs == 0 && to.max_steps == 0) return Fail("set --epochs or --max-steps");
  auto trainer = Trainer::Create(model->module, model->forward, *train, to);
  if (!trainer.ok()) return Fail(trainer.status().message());
  test->images = test->images.to((*trainer)->device());
  test->labels = test->labels.to((*trainer)->device());

  ElasticOptions eo;
  eo.batch_mode = *mode;
  eo.per_worker_batch = f.per_worker_batch;
  eo.lr_scaling = *scaling;
  eo.max_batch = f.max_batch;
  if (*mode == BatchMode::kAdaptive && f.max_batch != 0 && f.max_batch < f.global_batch) {
    return Fail("--max-batch " + std::to_string(f.max_batch) + " is below --global-batch " + std::to_string(f.global_batch));
  }
  eo.checkpoint_dir = f.checkpoint_dir;
  eo.checkpoint_every = f.checkpoint_every;
  eo.min_step = std::chrono::milliseconds(f.min_step_ms);
  eo.collective_timeout = std::chrono::milliseconds(f.collective_timeout_ms);
  eo.nccl = f.collectives != "gloo";
  eo.epoch_metrics = f.epoch_metrics;
  double accuracy = -1;
  int64_t evaluated_at = -1;
  Clock::duration eval_time{0};
  const auto start = Clock::now();
  double time_to_target = -1;
  eo.stop_when = [&] { return f.target_accuracy > 0 && accuracy >= f.target_accuracy; };
  auto runner = ElasticRunner::Create(trainer->get(), eo);
  if (!runner.ok()) return Fail(runner.status().message());

  std::ofstream samples;
  if (!f.record_samples.empty()) {
    samples.open(f.record_samples + "/samples-" + Slot() + ".txt", std::ios::app);
    if (!samples) return Fail("cannot write to " + f.record_samples);
  }
  int64_t measured_samples = 0;
  Clock::time_point measure_from{};
  (*runner)->OnEpochMetrics([&](int64_t, std::map<std::string, double>* values) {
    const auto t0 = Clock::now();
    (*values)["test_acc"] = Accuracy(*model, *test);
    eval_time += Clock::now() - t0;
  });
  (*trainer)->OnStep([&](const StepMetrics& m) {
    const int rank = (*runner)->rank();
    if (samples.is_open()) {
      samples << m.step << ' ' << m.epoch << ' ' << m.world_size;
      for (int64_t i : m.indices) samples << ' ' << i;
      samples << '\n';
      samples.flush();
    }
    if (m.step == f.warmup_steps) measure_from = Clock::now();
    if (m.step > f.warmup_steps) measured_samples += m.global_samples;
    if (rank == 0 && f.log_every > 0 && m.step % f.log_every == 0) {
      std::printf("step %lld epoch %lld loss %.4f world %d %.0f samples/s\n", static_cast<long long>(m.step),
                  static_cast<long long>(m.epoch), m.loss, m.world_size, m.samples_per_s);
      std::fflush(stdout);
    }
    if (f.eval_every > 0 && m.step % f.eval_every == 0) {
      const auto t0 = Clock::now();
      accuracy = Accuracy(*model, *test);
      evaluated_at = m.step;
      eval_time += Clock::now() - t0;
      if (rank == 0) {
        std::printf("step %lld test accuracy %.4f\n", static_cast<long long>(m.step), accuracy);
        std::fflush(stdout);
      }
      if (time_to_target < 0 && f.target_accuracy > 0 && accuracy >= f.target_accuracy) {
        time_to_target = std::chrono::duration<double>(Clock::now() - start - eval_time).count();
      }
    }
  });
  (*runner)->OnRescale([](const RescaleEvent& ev) {
    std::printf("rescaled %d -> %d at step %lld: paused %.1f ms%s\n", ev.from, ev.to,
                static_cast<long long>(ev.step), ev.pause_ms, ev.after_failure ? " (after a failure)" : "");
    std::fflush(stdout);
  });

  drover::Status st = (*runner)->Fit();
  const double measured = std::chrono::duration<double>(Clock::now() - measure_from).count();
  if (!st.ok()) return Fail(st.message());
  if ((*runner)->left()) {
    std::printf("left the job at step %lld (the scheduler took this worker's slot)\n",
                static_cast<long long>((*trainer)->step()));
    return 0;
  }
  const double wall = std::chrono::duration<double>(Clock::now() - start - eval_time).count();
  if (evaluated_at != (*trainer)->step()) {
    const auto t0 = Clock::now();
    accuracy = Accuracy(*model, *test);
    eval_time += Clock::now() - t0;
  }
  if ((*runner)->rank() == 0) {
    if (!f.save_params.empty()) {
      auto flat = (*trainer)->FlatParameters();
      std::ofstream out(f.save_params, std::ios::binary | std::ios::trunc);
      out.write(reinterpret_cast<const char*>(flat.data()), static_cast<std::streamsize>(flat.size() * 4));
      if (!out) return Fail("cannot write " + f.save_params);
    }
    nlohmann::json summary = {
        {"model", f.model},
        {"device", (*trainer)->device().str()},
        {"steps", (*trainer)->step()},
        {"epoch", (*trainer)->sampler().epoch()},
        {"world_size", (*runner)->world_size()},
        {"test_accuracy", accuracy},
        {"train_seconds", wall},
        {"samples_per_s", measure_from != Clock::time_point{} && measured > 0 ? measured_samples / measured : 0.0},
        {"time_to_target_s", time_to_target < 0 ? nlohmann::json(nullptr) : nlohmann::json(time_to_target)}};
    std::printf("summary %s\n", summary.dump().c_str());
  }
  return 0;
}

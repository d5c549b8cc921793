// drover-serve: one inference replica (replica.h) of a TorchScript model.
//
//   drover-serve --model fmnist.pt --name fmnist --input-shape 1,28,28 --executors 2
//                --threads 1 --max-batch-size 32 --max-queue-delay-us 2000 --port 8000
//
// Under drover (DROVER_SERVER set: a deployment's replica started by an
// agent) it reports ready with its port once warmed up, so the router sends
// it requests, and heartbeats; SIGTERM (the scheduler took its slot back, or
// the deployment was removed) drains it: it stops taking requests, answers
// those it holds, and exits 0. Run by hand it serves until SIGTERM/SIGINT.
//
// `--ceiling SECONDS` serves nothing: it prints the model's compute ceiling
// without HTTP (samples/s at batch 1 and at --max-batch-size, on --executors
// threads) as one JSON line, for bench/infer_bench.sh.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstdio>
#include <iostream>
#include <sstream>
#include <thread>

#include "net/http_server.h"
#include "serve/replica.h"
#include "train/job_client.h"

namespace {

using namespace drover;
using namespace drover::serve;

int Fail(const std::string& what) {
  std::fprintf(stderr, "drover-serve: %s\n", what.c_str());
  return 1;
}

Result<std::vector<int64_t>> ParseSizes(const std::string& text, const std::string& flag, int64_t min) {
  std::vector<int64_t> out;
  std::stringstream in(text);
  std::string part;
  while (std::getline(in, part, ',')) {
    try {
      size_t used = 0;
      const long long v = std::stoll(part, &used);
      if (used != part.size() || v < min) throw std::invalid_argument(part);
      out.push_back(v);
    } catch (const std::exception&) {
      return InvalidArgument(flag + ": \"" + part + "\" is not an integer of at least " + std::to_string(min));
    }
  }
  return out;
}

// Under drover: report ready with the port, then heartbeat; a replica that
// is no longer a member drains.
void ReportToDrover(Replica& replica, const train::WorkerEnv& env, std::atomic<bool>& stopping) {
  Result<std::unique_ptr<train::JobClient>> client = train::JobClient::Create(env);
  if (!client.ok()) {
    spdlog::error("cannot report to drover: {}", client.status().ToString());
    return;
  }
  int64_t generation = 0;
  if (Result<train::Membership> m = (*client)->Members(-1, false, std::chrono::milliseconds(0)); m.ok()) {
    generation = m->generation;
  }
  while (!stopping) {
    train::WorkerStatus s;
    s.generation = generation;
    s.ready = replica.ready();
    s.port = replica.port();
    Result<int64_t> g = (*client)->PostStatus(s);
    if (g.ok()) {
      generation = std::max(generation, *g);
    } else if (g.status().code() == StatusCode::kNotFound) {
      spdlog::info("no longer a member of job {}: draining", env.job);
      replica.Drain(std::chrono::seconds(8));
      return;
    } else {
      spdlog::warn("status post failed: {}", g.status().ToString());
    }
    for (int i = 0; i < 20 && !stopping; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"drover-serve: serve a TorchScript model over the Open Inference Protocol v2"};
  ReplicaOptions o;
  std::string input_shape, input_datatype = "FP32", preferred, port_file;
  int64_t delay_us = 0;
  double ceiling = 0;
  app.add_option("--model", o.model.path, "TorchScript file (torch.jit.save)")->required();
  app.add_option("--name", o.signature.model, "the model's name in /v2/models/NAME")->default_val("model");
  app.add_option("--input-name", o.signature.input_name, "the input tensor's name")->default_val("input");
  app.add_option("--input-datatype", input_datatype, "FP32, FP16, INT64, INT32 or BOOL")->default_val("FP32");
  app.add_option("--input-shape", input_shape, "one sample's shape, without the batch dimension: 1,28,28")->required();
  app.add_option("--output-name", o.signature.output_name, "the output tensor's name")->default_val("output");
  app.add_option("--device", o.model.device, "auto (a GPU if one is visible), cpu, cuda or cuda:N")->default_val("cpu");
  app.add_option("--optimize", o.model.optimize, "freeze the model and optimize it for inference (torch.jit's)")
      ->default_val(true);
  app.add_option("--executors", o.executors, "threads running batches, each with its own copy of the model")
      ->default_val(1)->check(CLI::Range(1, 64));
  app.add_option("--threads", o.model.threads, "intra-op threads (libtorch's, shared by the executors)")
      ->default_val(1)->check(CLI::Range(1, 256));
  app.add_option("--max-batch-size", o.batching.max_batch_size, "samples per batch at most (1: no batching)")
      ->default_val(1)->check(CLI::Range(1, 4096));
  app.add_option("--max-queue-delay-us", delay_us, "how long a batch may wait to fill while requests arrive")
      ->default_val(0)->check(CLI::Range(int64_t{0}, int64_t{10'000'000}));
  app.add_option("--preferred-batch-sizes", preferred, "batch sizes to cut at, ascending: 8,16");
  app.add_option("--max-queue", o.batching.max_queue, "requests queued at most; more get 503 with Retry-After")
      ->default_val(1024)->check(CLI::Range(1, 1 << 20));
  app.add_option("--host", o.host, "address to listen on")->default_val("127.0.0.1");
  app.add_option("--port", o.port, "port (0: any free one)")->default_val(0)->check(CLI::Range(0, 65535));
  app.add_option("--port-file", port_file, "write the bound port here once ready");
  app.add_option("--http-threads", o.http_threads, "threads that read bodies over 64 KiB (smaller ones are read on the I/O threads)")
      ->default_val(4)->check(CLI::Range(1, 256));
  app.add_option("--warmup-passes", o.warmup_passes, "warm-up passes per batch size")->default_val(2)->check(CLI::Range(0, 100));
  app.add_option("--ceiling", ceiling, "print the compute ceiling over this many seconds per phase and exit");
  CLI11_PARSE(app, argc, argv);

  // Under drover the replica listens on its host's address, where the router reaches it.
  if (app.count("--host") == 0) {
    if (const char* address = std::getenv("DROVER_HOST_ADDRESS"); address && *address) o.host = address;
  }
  Result<DataType> type = ParseDataType(input_datatype);
  if (!type.ok()) return Fail("--input-datatype: " + type.status().message());
  o.signature.input_type = *type;
  Result<std::vector<int64_t>> shape = ParseSizes(input_shape, "--input-shape", 1);
  if (!shape.ok()) return Fail(shape.status().message());
  o.signature.input_shape = *shape;
  o.batching.max_queue_delay = std::chrono::microseconds(delay_us);
  if (!preferred.empty()) {
    Result<std::vector<int64_t>> sizes = ParseSizes(preferred, "--preferred-batch-sizes", 1);
    if (!sizes.ok()) return Fail(sizes.status().message());
    for (size_t i = 0; i < sizes->size(); ++i) {
      if ((*sizes)[i] > o.batching.max_batch_size || (i && (*sizes)[i] <= (*sizes)[i - 1])) {
        return Fail("--preferred-batch-sizes: sizes must ascend and be at most --max-batch-size");
      }
      o.batching.preferred_batch_sizes.push_back(static_cast<int>((*sizes)[i]));
    }
  }

  if (ceiling > 0) {
    Result<Ceiling> c = MeasureCeiling(o.model, o.signature, o.executors, o.batching.max_batch_size, ceiling);
    if (!c.ok()) return Fail(c.status().ToString());
    std::cout << nlohmann::json{{"unbatched_samples_per_s", c->unbatched_samples_per_s},
                                {"batched_samples_per_s", c->batched_samples_per_s},
                                {"forward_ms", c->forward_ms},
                                {"batch", c->batch},
                                {"streams", o.executors},
                                {"threads", o.model.threads}}
                     .dump()
              << std::endl;
    return 0;
  }

  // Signals go to one thread, which drains the replica.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  Replica replica(o);
  Status st = replica.Start();
  if (!st.ok()) return Fail(st.ToString());
  const Replica::Warmup& w = replica.warmup();
  spdlog::info("serving \"{}\" on {}:{}: {} executor(s) x {} thread(s), batches up to {} ({} us delay); warm-up {:.0f} ms "
               "(first pass {:.2f} ms, warmed {:.2f} ms)",
               o.signature.model, o.host, replica.port(), o.executors, o.model.threads, o.batching.max_batch_size,
               delay_us, w.total_ms, w.first_pass_ms, w.warm_pass_ms);
  if (!port_file.empty()) {
    if (Status p = net::WritePortFile(port_file, replica.port()); !p.ok()) return Fail(p.ToString());
  }

  std::atomic<bool> stopping{false};
  std::thread waiter([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    if (stopping) return;
    spdlog::info("signal {}: draining", sig);
    stopping = true;
    replica.Drain(std::chrono::seconds(8));
  });
  std::thread reporter;
  Result<train::WorkerEnv> env = train::WorkerEnvFromEnvironment();
  if (env.ok()) {
    reporter = std::thread([&] { ReportToDrover(replica, *env, stopping); });
  } else if (env.status().code() != StatusCode::kNotFound) {
    return Fail(env.status().ToString());
  }

  replica.Serve();
  if (!stopping.exchange(true)) {
    // Serving ended without a signal (drained as a former member): wake the waiter.
    pthread_kill(waiter.native_handle(), SIGTERM);
  }
  waiter.join();
  if (reporter.joinable()) reporter.join();
  spdlog::info("stopped");
  return 0;
}

// Replica: one model served over the Open Inference Protocol v2 (oip.h) with
// dynamic batching (batcher.h), on `executors` threads each running its own
// copy of the model (model_runner.h), behind the event-driven HttpServer.
//
//   GET  /v2                      server metadata
//   GET  /v2/health/live          200 while the process serves HTTP
//   GET  /v2/health/ready         200 once warmed up, 503 before and while draining
//   GET  /v2/models/{m}           model metadata (404 for another model)
//   GET  /v2/models/{m}/ready     {"name", "ready"}
//   POST /v2/models/{m}/infer     200; 400 bad input; 404 unknown model; 413 body
//                                 too large; 503 + Retry-After: queue full or draining
//   GET  /metrics                 Prometheus text (serve_metrics.h)
//
// Who may call: anyone who reaches the port. A replica listens on its host's
// address for the router (in the server, or `drover router`), which
// authenticates callers; it holds no secret and serves only its model.
//
// Start() loads the model once per executor and warms each up on every batch
// size it will see (TorchScript's first passes on a new shape are several
// times slower) before it reports ready. Drain() stops taking requests,
// answers those it holds, then stops: a replica the scheduler removes loses
// no request.
//
// Thread safety: Start, then Serve on one thread; Drain and Stop from any.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "serve/batcher.h"
#include "serve/model_runner.h"
#include "serve/oip.h"
#include "serve/serve_metrics.h"

namespace drover::net {
class HttpServer;
}
namespace httplib {
struct Response;
}

namespace drover::serve {

struct ReplicaOptions {
  Signature signature;  //!< model name, input name/type/shape, output name
  ModelConfig model;
  int executors = 1;
  BatchingOptions batching;
  std::string host = "127.0.0.1";
  int port = 0;
  int http_threads = 4;  //!< pool threads for bodies over 64 KiB (others are handled on the I/O threads)
  size_t max_body_bytes = 32 << 20;
  int warmup_passes = 2;
};

class Replica {
 public:
  explicit Replica(ReplicaOptions options);
  ~Replica();

  //! Binds, loads and warms up the model (the port answers /v2/health/live
  //! meanwhile). Errors: the model's (ModelRunner::Load), a model that fails
  //! on warm-up input, kUnavailable when the port cannot be bound.
  Status Start();
  int port() const;
  //! Serves until Stop() or the end of a Drain().
  void Serve();
  //! Stops taking requests (ready 503, infer 503), waits until those held are
  //! answered (at most `timeout`), then stops serving. Idempotent.
  void Drain(std::chrono::milliseconds timeout);
  void Stop();

  bool ready() const { return ready_.load(); }
  const Signature& signature() const { return options_.signature; }
  const ServeMetrics& metrics() const { return metrics_; }
  //! How long warm-up took, and its first and last batch-1 passes (ms).
  struct Warmup {
    double total_ms = 0, first_pass_ms = 0, warm_pass_ms = 0;
  };
  const Warmup& warmup() const { return warmup_; }

 private:
  struct Pending;
  void Execute(ModelRunner& runner);
  //! Everything but a POST to the model's infer path: health, metadata, metrics, 404/405.
  void Route(const std::string& method, const std::string& path, httplib::Response& res);
  //! Parses and queues an inference, or answers it at once (bad input, full, draining).
  void Infer(const std::string& body, httplib::Response& res);
  //! Writes an inference's answer into `res` and counts it.
  void Answer(httplib::Response& res, int status, std::string body, bool retry_after);

  ReplicaOptions options_;
  ServeMetrics metrics_;
  Batcher<Pending*> batcher_;
  std::vector<std::unique_ptr<ModelRunner>> runners_;
  std::vector<std::thread> executors_;
  std::unique_ptr<net::HttpServer> http_;
  std::atomic<bool> ready_{false};
  std::atomic<bool> draining_{false};
  Warmup warmup_;
};

}  // namespace drover::serve

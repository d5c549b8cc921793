#include "serve/replica.h"

#include <chrono>
#include <future>
#include <mutex>

#include <httplib.h>
#include <spdlog/spdlog.h>

#include "net/http_server.h"
#include "serve/inference_router.h"

namespace drover::serve {
namespace {

using Clock = std::chrono::steady_clock;

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// Every batch size an executor will run: 1..64, then powers of two up to the maximum.
std::vector<int> WarmupSizes(int max_batch) {
  std::vector<int> sizes;
  for (int b = 1; b <= max_batch; b = b < 64 ? b + 1 : b * 2) sizes.push_back(b);
  if (sizes.back() != max_batch) sizes.push_back(max_batch);
  return sizes;
}

}  // namespace

// A request waiting for its batch. The handler queues it and returns; the
// executor that runs its batch writes the answer and sends it (Responder).
struct Replica::Pending {
  InferRequest request;
  Clock::time_point arrived;
  httplib::Response* res = nullptr;  // valid until `respond` is called
  net::Responder respond;
};

Replica::Replica(ReplicaOptions options)
    : options_(std::move(options)), metrics_(options_.signature.model), batcher_(options_.batching) {}

Replica::~Replica() {
  Stop();
  batcher_.Close();
  for (auto& t : executors_) t.join();
}

Status Replica::Start() {
  net::HttpServerOptions http;
  http.host = options_.host;
  http.port = options_.port;
  http.workers = options_.http_threads;
  http.max_body_bytes = options_.max_body_bytes;
  // No handler here blocks (an inference is answered by its executor), so they
  // run on the I/O threads: a request costs two thread switches, not four.
  http.handle_on_io_threads = true;
  http.io_threads = 2;
  const std::string infer_path = "/v2/models/" + options_.signature.model + "/infer";
  http_ = std::make_unique<net::HttpServer>(http, [this, infer_path](httplib::Request& req, httplib::Response& res) {
    if (req.path == infer_path && req.method == "POST") {
      Infer(req.body, res);
    } else {
      Route(req.method, req.path, res);
    }
    return std::optional<net::Wait>();
  });
  DROVER_RETURN_IF_ERROR(http_->Bind());

  const auto start = Clock::now();
  for (int i = 0; i < options_.executors; ++i) {
    Result<std::unique_ptr<ModelRunner>> r = ModelRunner::Load(options_.model);
    if (!r.ok()) return r.status();
    runners_.push_back(std::move(*r));
  }
  // The first pass tells the output's type and shape; then every executor
  // warms up on every batch size, in parallel.
  {
    std::vector<Tensor> out;
    const Tensor one = ZeroInput(options_.signature, 1);
    const auto t0 = Clock::now();
    Status st = runners_[0]->Run({&one}, options_.signature, true, &out);
    warmup_.first_pass_ms = Ms(Clock::now() - t0);
    if (!st.ok()) return Status(st.code(), "warm-up on zeros of shape [1, ...]: " + st.message());
  }
  std::vector<std::future<Status>> warming;
  for (auto& runner : runners_) {
    warming.push_back(std::async(std::launch::async, [this, r = runner.get()]() -> Status {
      Signature sig = options_.signature;
      std::vector<Tensor> out;
      for (int b : WarmupSizes(options_.batching.max_batch_size)) {
        const Tensor x = ZeroInput(sig, b);
        for (int pass = 0; pass < options_.warmup_passes; ++pass) {
          Status st = r->Run({&x}, sig, false, &out);
          if (!st.ok()) return Status(st.code(), "warm-up at batch " + std::to_string(b) + ": " + st.message());
        }
      }
      return Status::Ok();
    }));
  }
  for (auto& f : warming) DROVER_RETURN_IF_ERROR(f.get());
  {
    std::vector<Tensor> out;
    const Tensor one = ZeroInput(options_.signature, 1);
    Signature sig = options_.signature;
    const auto t0 = Clock::now();
    DROVER_RETURN_IF_ERROR(runners_[0]->Run({&one}, sig, false, &out));
    warmup_.warm_pass_ms = Ms(Clock::now() - t0);
  }
  warmup_.total_ms = Ms(Clock::now() - start);
  for (auto& runner : runners_) executors_.emplace_back([this, r = runner.get()] { Execute(*r); });
  ready_ = true;
  return Status::Ok();
}

int Replica::port() const { return http_ ? http_->port() : 0; }

void Replica::Serve() { http_->Run(); }

void Replica::Stop() {
  ready_ = false;
  if (http_) http_->Stop();
}

void Replica::Drain(std::chrono::milliseconds timeout) {
  if (draining_.exchange(true)) return;
  ready_ = false;
  const auto deadline = Clock::now() + timeout;
  // Requests already inside finish; new ones are answered 503 (the router retries them elsewhere).
  while (metrics_.in_flight.load() > 0 && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  // The last answers were handed to the I/O threads as in_flight fell: let them go out.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  spdlog::info("drained: {} request(s) still held", metrics_.in_flight.load());
  Stop();
}

void Replica::Execute(ModelRunner& runner) {
  std::vector<const Tensor*> inputs;
  std::vector<Tensor> outputs;
  Signature sig = options_.signature;
  for (;;) {
    std::vector<Pending*> batch = batcher_.Next();
    if (batch.empty()) return;
    const auto now = Clock::now();
    inputs.clear();
    int64_t samples = 0;
    for (Pending* p : batch) {
      metrics_.queue_seconds.Observe(std::chrono::duration<double>(now - p->arrived).count());
      inputs.push_back(&p->request.input);
      samples += p->request.batch;
    }
    metrics_.batch_size.Observe(static_cast<double>(samples));
    Status st = runner.Run(inputs, sig, false, &outputs);
    metrics_.compute_seconds.Observe(std::chrono::duration<double>(Clock::now() - now).count());
    for (size_t i = 0; i < batch.size(); ++i) {
      std::unique_ptr<Pending> p(batch[i]);
      if (st.ok()) {
        Answer(*p->res, 200, EncodeInferResponse(options_.signature, p->request.id, outputs[i]), false);
      } else {
        Answer(*p->res, 500, ErrorBody(st.message()), false);
      }
      p->respond();
      metrics_.in_flight.fetch_sub(1);
    }
  }
}

void Replica::Answer(httplib::Response& res, int status, std::string body, bool retry_after) {
  res.status = status;
  if (retry_after) res.set_header("Retry-After", "1");
  res.set_content(std::move(body), "application/json");
  metrics_.Answered(status);
}

void Replica::Infer(const std::string& body, httplib::Response& res) {
  metrics_.in_flight.fetch_add(1);
  auto p = std::make_unique<Pending>();
  p->arrived = Clock::now();
  batcher_.Arriving();
  if (draining_) {
    batcher_.Abandon();
    Answer(res, 503, ErrorBody("this replica is draining; retry on another"), true);
    metrics_.in_flight.fetch_sub(1);
    return;
  }
  Result<InferRequest> req = ParseInferRequest(body, options_.signature);
  if (!req.ok()) {
    batcher_.Abandon();
    Answer(res, 400, ErrorBody(req.status().message()), false);
    metrics_.in_flight.fetch_sub(1);
    return;
  }
  p->request = std::move(*req);
  p->res = &res;
  p->respond = net::Defer();
  Pending* item = p.get();
  if (!batcher_.Submit(item, item->request.batch)) {
    Answer(res, 503, ErrorBody("the queue is full (" + std::to_string(options_.batching.max_queue) + " requests); retry later"),
           true);
    p->respond();
    metrics_.in_flight.fetch_sub(1);
    return;
  }
  p.release();  // the executor that runs its batch answers and frees it
}

void Replica::Route(const std::string& method, const std::string& path, httplib::Response& res) {
  const Signature& sig = options_.signature;
  const std::string model_prefix = "/v2/models/" + sig.model;
  auto answer = [&res](int status, std::string body, const char* type = "application/json") {
    res.status = status;
    res.set_content(std::move(body), type);
  };
  auto only = [&](const char* allowed) {
    if (method == allowed) return true;
    answer(405, ErrorBody(method + " is not allowed here; use " + allowed));
    return false;
  };
  auto ready_answer = [&](std::string body) { answer(ready_ ? 200 : 503, std::move(body)); };
  if (path == model_prefix + "/infer") {
    only("POST");  // a POST was served by Infer
  } else if (path == "/v2/health/live") {
    if (only("GET")) answer(200, R"({"live":true})");
  } else if (path == "/v2/health/ready") {
    if (only("GET")) ready_answer(ready_ ? R"({"ready":true})" : R"({"ready":false})");
  } else if (path == "/v2") {
    if (only("GET")) answer(200, R"({"name":"drover-serve","version":"0.1.0","extensions":[]})");
  } else if (path == model_prefix || path == model_prefix + "/versions/1") {
    if (only("GET")) answer(200, ModelMetadata(sig, "pytorch_torchscript"));
  } else if (path == model_prefix + "/ready" || path == model_prefix + "/versions/1/ready") {
    if (only("GET")) ready_answer(std::string(R"({"name":")") + sig.model + R"(","ready":)" + (ready_ ? "true" : "false") + "}");
  } else if (path == "/metrics") {
    if (only("GET")) answer(200, metrics_.Text(), "text/plain; version=0.0.4");
  } else if (const std::string other = InferenceRouter::ModelOf(path); !other.empty()) {
    answer(404, ErrorBody("no model \"" + other.substr(0, 80) + "\" here; this replica serves \"" + sig.model + "\""));
    if (path == "/v2/models/" + other + "/infer") metrics_.Answered(404);
  } else {
    answer(404, ErrorBody("no such path: " + path.substr(0, 80)));
  }
}

}  // namespace drover::serve

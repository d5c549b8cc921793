// InferenceRouter: the data path in front of a deployment's replicas, for
// /v2/models/{m}/... (no libtorch). The server runs one on its inference
// port; `drover router` runs one on its own, so the data path scales apart
// from the control plane.
//
// - Balancing: each request goes to the ready replica with the fewest
//   requests outstanding from this router (ties in turn), over keep-alive
//   connections (a pool per replica).
// - Failures: an inference whose replica fails mid-request (the connection
//   is refused, reset or closed without an answer) or answers 503 (draining,
//   queue full) is retried once on another replica, so a replica killed or
//   drained under load costs at most what it was computing. The failed
//   replica is then passed over for `bench_for` while others are ready.
// - Scaling from zero: a request for a known model with no ready replica is
//   held (at most `max_held` per model, for at most `hold_timeout`) and
//   answered once one is ready; `on_demand` tells the control plane at once.
//   Beyond either bound it gets 503 with Retry-After.
// - Load: per model, requests in flight, held, answered, and latencies, for
//   the autoscaler and `drover deployment NAME`.
//
// The replica set comes from the control plane (SetModel), which knows the
// deployment's workers; a replica removed from the set receives nothing new.
//
// Thread safety: every method may be called from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace httplib {
struct Request;
struct Response;
}  // namespace httplib

namespace drover::serve {

struct Endpoint {
  std::string id;    //!< stable for the replica's life, e.g. "job 7 rank 1 gen 0"
  std::string host;  //!< address the router reaches it at
  int port = 0;
  friend bool operator==(const Endpoint&, const Endpoint&) = default;
};

struct RouterOptions {
  int max_held = 256;  //!< per model
  std::chrono::milliseconds hold_timeout{30000};
  std::chrono::milliseconds replica_timeout{30000};  //!< one inference on a replica
  std::chrono::milliseconds connect_timeout{2000};
  //! A replica that failed or answered 503 gets no request for this long
  //! while others can take it (the control plane's view may lag its death).
  std::chrono::milliseconds bench_for{2000};
};

//! A model's load as the router saw it.
struct ModelLoad {
  int64_t in_flight = 0;  //!< sent to a replica, not yet answered
  int64_t held = 0;       //!< waiting for a ready replica
  uint64_t answered = 0;  //!< ever, any status
  uint64_t failed = 0;    //!< ever: answered with a status >= 500 (retries included once)
  uint64_t retried = 0;   //!< ever
  int replicas = 0;       //!< ready now
};

//! Latencies of the requests answered in the last `window`, as percentiles (ms).
struct LatencySummary {
  double requests_per_s = 0, p50_ms = 0, p99_ms = 0;
  uint64_t count = 0;
};

struct RoutedAnswer {
  int status = 0;
  std::string body;
  std::string content_type = "application/json";
  bool retry_after = false;
};

//! An answer saying why a caller is refused: {"error": why} with `status`.
RoutedAnswer Refusal(int status, std::string_view why);

class InferenceRouter {
 public:
  //! Who may call a model: nullopt to serve the request, else the refusal to
  //! answer with (a 401 gets WWW-Authenticate). `authorization`: the header as sent.
  using Admit = std::function<std::optional<RoutedAnswer>(const std::string& model, const std::string& authorization)>;
  explicit InferenceRouter(RouterOptions options = {});
  ~InferenceRouter();

  //! Declares `model` with its ready replicas (replacing the previous set).
  //! A model with none holds requests until some are given.
  void SetModel(const std::string& model, std::vector<Endpoint> ready);
  //! Forgets `model`: held requests get 404.
  void RemoveModel(const std::string& model);
  //! Called (outside the router's lock) when a request arrives for a model
  //! with no ready replica: the control plane scales it from zero.
  void OnDemand(std::function<void(const std::string& model)> fn);

  //! Serves `method` on `path` (/v2/models/{m}[/...]) with `body`: 404 for an
  //! unknown model, else the replica's answer (see the file comment).
  RoutedAnswer Route(const std::string& method, const std::string& path, const std::string& body);
  //! A router's port: the health probes answer anyone; a model's routes are
  //! served once `admit` lets the caller in. Writes the answer into `res`.
  void Serve(const httplib::Request& req, httplib::Response& res, const Admit& admit);
  //! The model named by `path`, "" when `path` is not /v2/models/{m}...
  static std::string ModelOf(const std::string& path);

  ModelLoad Load(const std::string& model) const;
  LatencySummary Latency(const std::string& model, std::chrono::seconds window) const;
  std::vector<std::string> Models() const;

 private:
  struct Replica;
  struct Model;
  std::shared_ptr<Replica> Pick(Model& m, const std::string& not_this);
  RoutedAnswer Send(Replica& r, const std::string& method, const std::string& path, const std::string& body, bool& transport_failed);

  const RouterOptions options_;
  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::map<std::string, std::shared_ptr<Model>> models_;
  std::function<void(const std::string&)> on_demand_;
};

}  // namespace drover::serve

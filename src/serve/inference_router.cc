#include "serve/inference_router.h"

#include <algorithm>
#include <atomic>

#include <httplib.h>

#include "serve/oip.h"

namespace drover::serve {

using Clock = std::chrono::steady_clock;

struct InferenceRouter::Replica {
  Endpoint ep;
  int64_t outstanding = 0;  // under the router's mutex
  Clock::time_point benched_until{};  // after a failure: others are preferred until then
  std::mutex pool_mu;
  std::vector<std::unique_ptr<httplib::Client>> idle;  // keep-alive connections not in use
};

struct InferenceRouter::Model {
  std::vector<std::shared_ptr<Replica>> replicas;  // ready ones
  size_t next = 0;                                 // where ties start
  int64_t in_flight = 0, held = 0;
  uint64_t answered = 0, failed = 0, retried = 0;
  std::deque<std::pair<Clock::time_point, double>> latencies;  // answered requests, newest last
  bool removed = false;
};

namespace {
constexpr size_t kMaxLatencies = 16384;
constexpr const char* kPrefix = "/v2/models/";
}  // namespace

InferenceRouter::InferenceRouter(RouterOptions options) : options_(options) {}

InferenceRouter::~InferenceRouter() {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [name, m] : models_) m->removed = true;
  changed_.notify_all();
}

std::string InferenceRouter::ModelOf(const std::string& path) {
  if (path.rfind(kPrefix, 0) != 0) return "";
  const size_t begin = std::char_traits<char>::length(kPrefix);
  const size_t end = path.find('/', begin);
  return path.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
}

void InferenceRouter::SetModel(const std::string& model, std::vector<Endpoint> ready) {
  std::lock_guard<std::mutex> lock(mu_);
  std::shared_ptr<Model>& m = models_[model];
  if (!m) m = std::make_shared<Model>();
  std::vector<std::shared_ptr<Replica>> next;
  for (Endpoint& ep : ready) {
    // A replica that stays keeps its connections and its count of outstanding requests.
    auto it = std::find_if(m->replicas.begin(), m->replicas.end(), [&](const auto& r) { return r->ep == ep; });
    if (it != m->replicas.end()) {
      next.push_back(*it);
    } else {
      auto r = std::make_shared<Replica>();
      r->ep = std::move(ep);
      next.push_back(std::move(r));
    }
  }
  m->replicas = std::move(next);
  changed_.notify_all();
}

void InferenceRouter::RemoveModel(const std::string& model) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = models_.find(model);
  if (it == models_.end()) return;
  it->second->removed = true;
  models_.erase(it);
  changed_.notify_all();
}

void InferenceRouter::OnDemand(std::function<void(const std::string&)> fn) {
  std::lock_guard<std::mutex> lock(mu_);
  on_demand_ = std::move(fn);
}

std::shared_ptr<InferenceRouter::Replica> InferenceRouter::Pick(Model& m, const std::string& not_this) {
  std::shared_ptr<Replica> best;
  const auto now = Clock::now();
  const size_t n = m.replicas.size();
  for (size_t k = 0; k < n; ++k) {
    const auto& r = m.replicas[(m.next + k) % n];
    if (r->ep.id == not_this) continue;
    // A benched replica is taken only when every other one is benched too.
    const bool benched = r->benched_until > now;
    const bool best_benched = best && best->benched_until > now;
    if (!best || (best_benched && !benched) || (benched == best_benched && r->outstanding < best->outstanding)) best = r;
  }
  if (best) {
    ++m.next;
    ++best->outstanding;
  }
  return best;
}

RoutedAnswer InferenceRouter::Send(Replica& r, const std::string& method, const std::string& path, const std::string& body,
                                   bool& transport_failed) {
  std::unique_ptr<httplib::Client> client;
  {
    std::lock_guard<std::mutex> lock(r.pool_mu);
    if (!r.idle.empty()) {
      client = std::move(r.idle.back());
      r.idle.pop_back();
    }
  }
  if (!client) {
    client = std::make_unique<httplib::Client>(r.ep.host, r.ep.port);
    client->set_keep_alive(true);
    client->set_tcp_nodelay(true);
    client->set_connection_timeout(options_.connect_timeout);
    client->set_read_timeout(options_.replica_timeout);
    client->set_write_timeout(options_.replica_timeout);
  }
  httplib::Result res = method == "POST" ? client->Post(path, body, "application/json") : client->Get(path);
  RoutedAnswer a;
  if (!res) {
    transport_failed = true;
    a.status = 502;
    a.body = ErrorBody("replica " + r.ep.id + " at " + r.ep.host + ":" + std::to_string(r.ep.port) +
                       " failed: " + httplib::to_string(res.error()));
    return a;  // the connection is dropped with the client
  }
  a.status = res->status;
  a.body = std::move(res->body);
  a.content_type = res->get_header_value("Content-Type");
  a.retry_after = res->has_header("Retry-After");
  std::lock_guard<std::mutex> lock(r.pool_mu);
  r.idle.push_back(std::move(client));
  return a;
}

RoutedAnswer InferenceRouter::Route(const std::string& method, const std::string& path, const std::string& body) {
  const std::string name = ModelOf(path);
  RoutedAnswer a;
  if (name.empty()) {
    a.status = 404;
    a.body = ErrorBody("no such path: " + path.substr(0, 80) + " (models are at /v2/models/NAME)");
    return a;
  }
  const auto start = Clock::now();
  const bool readiness = path == kPrefix + name + "/ready";
  std::unique_lock<std::mutex> lock(mu_);
  auto found = models_.find(name);
  if (found == models_.end()) {
    a.status = 404;
    a.body = ErrorBody("no model \"" + name.substr(0, 80) + "\" is deployed");
    return a;
  }
  std::shared_ptr<Model> m = found->second;
  std::string failed_id;  // the replica of the first attempt, when it failed
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::shared_ptr<Replica> r = Pick(*m, failed_id);
    if (!r && readiness) {
      a.status = 503;
      a.body = R"({"name":")" + name + R"(","ready":false})";
      return a;
    }
    if (!r) {
      // No ready replica (other than the one that failed): hold the request until one is.
      if (m->held >= options_.max_held) {
        a.status = 503;
        a.retry_after = true;
        a.body = ErrorBody("model \"" + name + "\" has no ready replica and " + std::to_string(m->held) +
                           " requests are already waiting for one");
        ++m->answered;
        ++m->failed;
        return a;
      }
      ++m->held;
      if (on_demand_ && failed_id.empty()) {
        auto fn = on_demand_;
        lock.unlock();
        fn(name);
        lock.lock();
      }
      const bool got = changed_.wait_until(lock, start + options_.hold_timeout, [&] {
        return m->removed || std::any_of(m->replicas.begin(), m->replicas.end(),
                                          [&](const auto& x) { return x->ep.id != failed_id; });
      });
      --m->held;
      if (m->removed) {
        a.status = 404;
        a.body = ErrorBody("model \"" + name + "\" was undeployed");
        return a;
      }
      if (!got) {
        a.status = 503;
        a.retry_after = true;
        a.body = ErrorBody("model \"" + name + "\" has had no ready replica for " +
                           std::to_string(options_.hold_timeout.count() / 1000) + " s");
        ++m->answered;
        ++m->failed;
        return a;
      }
      r = Pick(*m, failed_id);
    }
    ++m->in_flight;
    lock.unlock();
    bool transport_failed = false;
    a = Send(*r, method, path, body, transport_failed);
    lock.lock();
    --m->in_flight;
    --r->outstanding;
    if (transport_failed || a.status == 503) r->benched_until = Clock::now() + options_.bench_for;
    if ((transport_failed || a.status == 503) && attempt == 0 && !readiness) {
      failed_id = r->ep.id;
      ++m->retried;
      continue;
    }
    break;
  }
  ++m->answered;
  if (a.status >= 500) ++m->failed;
  m->latencies.emplace_back(Clock::now(), std::chrono::duration<double, std::milli>(Clock::now() - start).count());
  if (m->latencies.size() > kMaxLatencies) m->latencies.pop_front();
  return a;
}

RoutedAnswer Refusal(int status, std::string_view why) {
  RoutedAnswer a;
  a.status = status;
  a.body = ErrorBody(why);
  return a;
}

void InferenceRouter::Serve(const httplib::Request& req, httplib::Response& res, const Admit& admit) {
  RoutedAnswer a;
  if (req.path == "/v2/health/live" || req.path == "/v2/health/ready") {
    a.status = 200;
    a.body = req.path == "/v2/health/live" ? R"({"live":true})" : R"({"ready":true})";
  } else {
    const std::string model = ModelOf(req.path);
    std::optional<RoutedAnswer> refused;
    if (!model.empty()) refused = admit(model, req.get_header_value("Authorization"));
    a = refused ? std::move(*refused) : Route(req.method, req.path, req.body);
  }
  res.status = a.status;
  if (a.retry_after) res.set_header("Retry-After", "1");
  if (a.status == 401) res.set_header("WWW-Authenticate", "Bearer");
  res.set_content(a.body, a.content_type.empty() ? "application/json" : a.content_type);
}

ModelLoad InferenceRouter::Load(const std::string& model) const {
  std::lock_guard<std::mutex> lock(mu_);
  ModelLoad l;
  auto it = models_.find(model);
  if (it == models_.end()) return l;
  const Model& m = *it->second;
  l.in_flight = m.in_flight;
  l.held = m.held;
  l.answered = m.answered;
  l.failed = m.failed;
  l.retried = m.retried;
  l.replicas = static_cast<int>(m.replicas.size());
  return l;
}

LatencySummary InferenceRouter::Latency(const std::string& model, std::chrono::seconds window) const {
  std::vector<double> ms;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = models_.find(model);
    if (it == models_.end()) return {};
    const auto since = Clock::now() - window;
    for (auto l = it->second->latencies.rbegin(); l != it->second->latencies.rend() && l->first >= since; ++l) {
      ms.push_back(l->second);
    }
  }
  LatencySummary s;
  s.count = ms.size();
  if (ms.empty()) return s;
  s.requests_per_s = static_cast<double>(ms.size()) / static_cast<double>(window.count());
  auto pct = [&ms](double q) {
    const size_t k = std::min(ms.size() - 1, static_cast<size_t>(q * static_cast<double>(ms.size())));
    std::nth_element(ms.begin(), ms.begin() + static_cast<std::ptrdiff_t>(k), ms.end());
    return ms[k];
  };
  s.p50_ms = pct(0.50);
  s.p99_ms = pct(0.99);
  return s;
}

std::vector<std::string> InferenceRouter::Models() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> names;
  for (const auto& [name, m] : models_) names.push_back(name);
  return names;
}

}  // namespace drover::serve

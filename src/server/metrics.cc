#include "server/metrics.h"

#include <sstream>

namespace drover::server {

Metrics::Histogram Metrics::NewHistogram() {
  Histogram h;
  h.buckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};
  h.counts.assign(h.buckets.size(), 0);
  return h;
}

void Metrics::Histogram::Observe(double v) {
  for (size_t i = 0; i < buckets.size(); ++i) {
    if (v <= buckets[i]) ++counts[i];
  }
  sum += v;
  ++count;
}

void Metrics::ObserveRequest(const std::string& route, int status, double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = api_.find(route);
  if (it == api_.end()) it = api_.emplace(route, NewHistogram()).first;
  it->second.Observe(seconds);
  ++calls_[{route, status}];
}

void Metrics::ObserveCycle(double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  cycle_.Observe(seconds);
}

namespace {

void Write(std::ostringstream& o, const std::string& name, const std::string& labels, const std::vector<double>& b,
           const std::vector<uint64_t>& c, double sum, uint64_t count) {
  std::string sep = labels.empty() ? "" : ",";
  for (size_t i = 0; i < b.size(); ++i) {
    o << name << "_bucket{" << labels << sep << "le=\"" << b[i] << "\"} " << c[i] << "\n";
  }
  o << name << "_bucket{" << labels << sep << "le=\"+Inf\"} " << count << "\n";
  o << name << "_sum{" << labels << "} " << sum << "\n";
  o << name << "_count{" << labels << "} " << count << "\n";
}

}  // namespace

std::string Metrics::Render(const std::string& extra) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::ostringstream o;
  o << "# HELP drover_api_request_duration_seconds Time to answer an API request.\n"
       "# TYPE drover_api_request_duration_seconds histogram\n";
  for (const auto& [route, h] : api_) {
    Write(o, "drover_api_request_duration_seconds", "route=\"" + route + "\"", h.buckets, h.counts, h.sum, h.count);
  }
  o << "# HELP drover_api_requests_total API requests by route and status.\n"
       "# TYPE drover_api_requests_total counter\n";
  for (const auto& [key, n] : calls_) {
    o << "drover_api_requests_total{route=\"" << key.first << "\",status=\"" << key.second << "\"} " << n << "\n";
  }
  o << "# HELP drover_scheduling_cycle_seconds Time of one scheduling cycle.\n"
       "# TYPE drover_scheduling_cycle_seconds histogram\n";
  Write(o, "drover_scheduling_cycle_seconds", "", cycle_.buckets, cycle_.counts, cycle_.sum, cycle_.count);
  o << extra;
  return o.str();
}

}  // namespace drover::server

#include "serve/serve_metrics.h"

#include <cstdio>

namespace drover::serve {

namespace {
std::string Number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}
std::string Join(const std::string& labels, const std::string& more) {
  if (labels.empty()) return "{" + more + "}";
  return "{" + labels + "," + more + "}";
}
}  // namespace

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), buckets_(bounds_.size() + 1) {}

void Histogram::Observe(double v) {
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_micro_.fetch_add(static_cast<uint64_t>(v * 1e6), std::memory_order_relaxed);
}

std::string Histogram::Text(const std::string& name, const std::string& help, const std::string& labels) const {
  std::string s = "# HELP " + name + " " + help + "\n# TYPE " + name + " histogram\n";
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    cumulative += buckets_[i].load(std::memory_order_relaxed);
    const std::string le = i < bounds_.size() ? Number(bounds_[i]) : "+Inf";
    s += name + "_bucket" + Join(labels, "le=\"" + le + "\"") + " " + std::to_string(cumulative) + "\n";
  }
  const std::string l = labels.empty() ? "" : "{" + labels + "}";
  s += name + "_sum" + l + " " + Number(static_cast<double>(sum_micro_.load()) / 1e6) + "\n";
  s += name + "_count" + l + " " + std::to_string(count_.load()) + "\n";
  return s;
}

ServeMetrics::ServeMetrics(std::string m)
    : model(std::move(m)),
      queue_seconds({1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 5e-3, 1e-2, 5e-2, 0.1, 0.5, 1}),
      compute_seconds({1e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.5, 1}),
      batch_size({1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024}) {}

void ServeMetrics::Answered(int status) {
  size_t i = 0;
  while (i + 1 < kCodes.size() && kCodes[i] != status) ++i;
  answers_[i].fetch_add(1, std::memory_order_relaxed);
}

std::string ServeMetrics::Text() const {
  const std::string labels = "model=\"" + model + "\"";
  std::string s =
      "# HELP drover_serve_requests_total Inference answers by HTTP status.\n"
      "# TYPE drover_serve_requests_total counter\n";
  for (size_t i = 0; i < kCodes.size(); ++i) {
    const std::string code = kCodes[i] ? std::to_string(kCodes[i]) : "other";
    s += "drover_serve_requests_total" + Join(labels, "code=\"" + code + "\"") + " " +
         std::to_string(answers_[i].load()) + "\n";
  }
  s += "# HELP drover_serve_in_flight Inference requests being served now.\n# TYPE drover_serve_in_flight gauge\n";
  s += "drover_serve_in_flight{" + labels + "} " + std::to_string(in_flight.load()) + "\n";
  s += queue_seconds.Text("drover_serve_queue_seconds", "Time from a request's arrival to its batch.", labels);
  s += compute_seconds.Text("drover_serve_compute_seconds", "Forward pass time per batch.", labels);
  s += batch_size.Text("drover_serve_batch_size", "Samples per batch.", labels);
  return s;
}

}  // namespace drover::serve

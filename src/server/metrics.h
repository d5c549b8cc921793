// Metrics: counters and histograms exposed at /metrics in Prometheus text
// format. Thread-safe.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace drover::server {

class Metrics {
 public:
  //! Records one API call of `route` that took `seconds`.
  void ObserveRequest(const std::string& route, int status, double seconds);
  void ObserveCycle(double seconds);
  //! Renders everything, with `extra` (gauges computed by the caller) appended.
  std::string Render(const std::string& extra) const;

 private:
  struct Histogram {
    std::vector<double> buckets;  // upper bounds, seconds
    std::vector<uint64_t> counts;
    double sum = 0;
    uint64_t count = 0;
    void Observe(double v);
  };
  static Histogram NewHistogram();
  mutable std::mutex mu_;
  std::map<std::string, Histogram> api_;                 // by route
  std::map<std::pair<std::string, int>, uint64_t> calls_;  // (route, status)
  Histogram cycle_ = NewHistogram();
};

}  // namespace drover::server

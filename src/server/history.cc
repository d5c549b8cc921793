#include "server/history.h"

#include <cmath>

namespace drover::server {

void History::Record(double now, const std::map<std::string, Values>& samples, store::WriteBatch* batch) {
  next_ = now + opt_.interval;
  const double start = std::floor(now / opt_.coarse) * opt_.coarse;
  // Close every bucket that ended before this one, series that stopped included.
  for (auto it = open_.begin(); it != open_.end();) {
    Bucket& b = it->second;
    if (b.start >= start) {
      ++it;
      continue;
    }
    store::SampleRecord avg{it->first, b.start, opt_.coarse, {}};
    for (const auto& [key, sum] : b.sum) avg.values[key] = sum / b.count[key];
    batch->samples.push_back(std::move(avg));
    it = open_.erase(it);
  }
  for (const auto& [series, values] : samples) {
    batch->samples.push_back({series, now, opt_.interval, values});
    Bucket& b = open_[series];
    if (b.sum.empty()) b.start = start;
    for (const auto& [key, v] : values) {
      if (!std::isfinite(v)) continue;
      b.sum[key] += v;
      ++b.count[key];
    }
  }
  batch->pruned_samples.push_back({opt_.interval, now - opt_.fine_keep});
  batch->pruned_samples.push_back({opt_.coarse, now - opt_.keep});
}

}  // namespace drover::server

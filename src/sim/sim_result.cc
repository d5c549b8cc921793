#include "sim/sim_result.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <nlohmann/json.hpp>

namespace drover::sim {

double Quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t rank = static_cast<size_t>(std::ceil(q * static_cast<double>(v.size())));
  return v[std::clamp<size_t>(rank, 1, v.size()) - 1];
}

void SimResult::Summarize() {
  std::vector<double> jcts;
  double first = std::numeric_limits<double>::max(), last = 0, held = 0;
  unfinished = 0;
  for (const JobOutcome& j : jobs) {
    first = std::min(first, j.submit);
    if (!j.finished()) {
      ++unfinished;
      continue;
    }
    held += j.gpu_seconds;
    jcts.push_back(j.jct());
    last = std::max(last, j.completion);
  }
  double sum = 0;
  for (double x : jcts) sum += x;
  mean_jct = jcts.empty() ? 0 : sum / static_cast<double>(jcts.size());
  p50_jct = Quantile(jcts, 0.5);
  p99_jct = Quantile(jcts, 0.99);
  makespan = jcts.empty() ? 0 : last - first;
  utilization = makespan > 0 && cluster_gpus > 0 ? held / (makespan * cluster_gpus) : 0;
}

void to_json(nlohmann::json& j, const SimResult& r) {
  j = nlohmann::json{{"policy", r.policy},
                     {"workload", r.workload},
                     {"cluster_gpus", r.cluster_gpus},
                     {"jobs", r.jobs.size()},
                     {"unfinished", r.unfinished},
                     {"mean_jct", r.mean_jct},
                     {"p50_jct", r.p50_jct},
                     {"p99_jct", r.p99_jct},
                     {"makespan", r.makespan},
                     {"gpu_utilization", r.utilization},
                     {"placement_changes", r.placement_changes},
                     {"decide_ms", {{"p50", r.decide_p50_ms}, {"p95", r.decide_p95_ms}}},
                     {"wall_seconds", r.wall_seconds}};
  if (!r.fairness.empty()) {
    nlohmann::json f = nlohmann::json::array();
    for (const ConsumerFairness& c : r.fairness) {
      f.push_back({{"consumer", c.consumer},
                   {"owned", c.owned},
                   {"jobs", c.jobs},
                   {"finished", c.finished},
                   {"mean_jct", c.mean_jct},
                   {"gpu_seconds", c.gpu_seconds},
                   {"owed_gpu_seconds_after_grace", c.owed_gpu_seconds}});
    }
    j["consumers"] = f;
  }
}

}  // namespace drover::sim

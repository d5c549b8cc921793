#include "sim/philly.h"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <fstream>
#include <iomanip>
#include <map>
#include <sstream>

#include "sched/fair_share.h"

namespace drover::sim {
namespace {

class PhillyJob final : public ModelJob {
 public:
  PhillyJob(double work, double pause) : work_(work), pause_(pause) {}

  void Reallocate(double /*now*/, const std::vector<int>& per_node) override {
    int held = 0;
    for (int g : per_node) held += g;
    held_ = held;
    if (held_ == 0) return;
    if (started_) ++restarts_;
    started_ = true;
    paused_ = pause_;
  }

  void Step(double now, double seconds) override {
    if (held_ == 0 || finished()) return;
    double pause = std::min(paused_, seconds);
    paused_ -= pause;
    double run = seconds - pause;
    attained_ += seconds * held_;
    if (done_ + run >= work_) {
      completion_ = now + pause + (work_ - done_);
      attained_ -= (done_ + run - work_) * held_;
      done_ = work_;
    } else {
      done_ += run;
    }
  }

  bool finished() const override { return completion_ >= 0; }
  double completion_time() const override { return completion_; }
  double attained_service() const override { return attained_; }
  int restarts() const override { return restarts_; }

 private:
  double work_;
  double pause_;
  int held_ = 0;
  bool started_ = false;
  int restarts_ = 0;
  double paused_ = 0, done_ = 0, attained_ = 0, completion_ = -1;
};

}  // namespace

Result<double> ParseUtc(const std::string& text) {
  std::tm tm{};
  std::istringstream in(text);
  in >> std::get_time(&tm, text.size() > 10 ? "%Y-%m-%d %H:%M:%S" : "%Y-%m-%d");
  if (in.fail()) return InvalidArgument("'" + text + "' is not a date (expected YYYY-MM-DD[ HH:MM:SS])");
  return static_cast<double>(timegm(&tm));
}

Result<std::vector<PhillyRow>> LoadPhillyTrace(const std::string& path, int* skipped) {
  std::ifstream in(path);
  if (!in) return NotFound(path + ": cannot open the Philly trace");
  std::string line;
  std::getline(in, line);
  if (line.rfind("timestamp,duration,num_gpus", 0) != 0) {
    return InvalidArgument(path + ":1: expected header 'timestamp,duration,num_gpus,gpu_time,cluster'");
  }
  std::vector<PhillyRow> rows;
  int bad = 0, lineno = 1;
  while (std::getline(in, line)) {
    ++lineno;
    std::vector<std::string> f;
    std::stringstream ss(line);
    for (std::string cell; std::getline(ss, cell, ',');) f.push_back(cell);
    if (f.size() < 5 || f[0].empty() || f[1].empty() || f[2].empty() || f[4].empty()) {
      ++bad;
      continue;
    }
    Result<double> t = ParseUtc(f[0]);
    if (!t.ok()) return InvalidArgument(path + ":" + std::to_string(lineno) + ": " + t.status().message());
    PhillyRow r;
    r.submit = *t;
    r.duration = std::strtod(f[1].c_str(), nullptr);
    r.gpus = std::atoi(f[2].c_str());
    r.cluster = f[4];
    if (r.gpus <= 0 || r.duration < 0) {
      ++bad;
      continue;
    }
    rows.push_back(std::move(r));
  }
  if (skipped) *skipped = bad;
  return rows;
}

Result<PhillyWorkload> BuildPhillyWorkload(const std::vector<PhillyRow>& rows, const PhillyOptions& o) {
  Result<double> start = ParseUtc(o.start);
  if (!start.ok()) return start.status();
  if (!(o.days > 0) || !std::isfinite(o.days)) return InvalidArgument("--philly-days must be a positive number");
  if (o.gpus < 8 || o.gpus % 8) return InvalidArgument("--gpus must be a positive multiple of 8 in Philly mode");
  double end = *start + o.days * 86400;
  PhillyWorkload w;
  w.start = *start;
  std::map<std::string, double> gpu_time;
  std::vector<const PhillyRow*> picked;
  for (const PhillyRow& r : rows) {
    if (r.submit < *start || r.submit >= end) continue;
    if (r.gpus > o.max_job_gpus || r.gpus > o.gpus) {
      ++w.dropped;
      continue;
    }
    picked.push_back(&r);
    gpu_time[r.cluster] += std::max(r.duration, 1.0) * r.gpus;
  }
  if (picked.empty()) return InvalidArgument("no Philly jobs were submitted in the chosen window");
  double total = 0;
  for (auto& [vc, t] : gpu_time) total += t;
  std::vector<double> ideal;
  for (auto& [vc, t] : gpu_time) ideal.push_back(total > 0 ? t / total * o.gpus : 0.0);
  std::map<std::string, int> index;
  if (o.plan) {
    w.plan = *o.plan;
    std::string missing;
    for (auto& [vc, t] : gpu_time) {
      int found = -1;
      for (int c = 1; c < w.plan.size() && found < 0; ++c) {
        const std::string& name = w.plan.node(c).name;
        if (name == vc || name == "vc-" + vc) found = c;
      }
      if (found < 0) missing += (missing.empty() ? "" : ", ") + vc;
      index[vc] = found;
    }
    if (!missing.empty()) {
      return InvalidArgument("the plan has no consumer for virtual cluster(s) " + missing +
                             " (name a consumer \"X\" or \"vc-X\")");
    }
  } else {
    std::vector<int64_t> owned = sched::RoundPreservingSum(ideal, o.gpus);
    int philly = w.plan.Add(0, "philly", {.owned = o.gpus}).value();
    size_t k = 0;
    for (auto& [vc, t] : gpu_time) {
      ConsumerPlan p{.owned = owned[k], .share = static_cast<double>(std::max<int64_t>(owned[k], 1)),
                     .reclaim_grace = o.reclaim_grace};
      index[vc] = w.plan.Add(philly, "vc-" + vc, p).value();
      ++k;
    }
  }
  for (const PhillyRow* r : picked) {
    SimJobSpec s;
    s.name = "philly-" + std::to_string(w.jobs.size());
    s.kind = "philly";
    s.consumer = index[r->cluster];
    s.submit = r->submit;
    s.workers = {r->gpus, r->gpus};
    s.model = std::make_unique<PhillyJob>(std::max(r->duration, 1.0), o.restart_pause);
    w.jobs.push_back(std::move(s));
  }
  return w;
}

}  // namespace drover::sim

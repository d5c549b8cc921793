#include "sim/pollux_workload.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>

#include "sched/goodput_model.h"
#include "sim/sim_job.h"

namespace drover::sim {
namespace {

// Adapts the reference-faithful SimJob, which keeps its own clock from 0, to
// the engine, which steps only jobs that have been submitted. A job that
// learns (given a `book`) carries a sched::GoodputModel, as a job on the live
// platform does: fed by what it measures each round it runs, it picks the
// job's batch geometry and gives the scheduler its profile. Otherwise both
// come from the application's true model.
class PolluxJob final : public ModelJob {
 public:
  //! `book`: where jobs that learn share their fits (null: the job does not learn).
  PolluxJob(SimJob job, std::shared_ptr<sched::PriorBook> book) : job_(std::move(job)), book_(std::move(book)) {
    if (!book_) return;
    learner_.emplace(LimitsOf(job_.application()));
    job_.SetGeometryChooser([this](const PlacementKey& key, int) { return Choose(key); });
  }

  void Reallocate(double now, const std::vector<int>& per_node) override {
    CatchUp(now);
    job_.Reallocate(per_node);
  }
  void Step(double now, double seconds) override {
    CatchUp(now);
    const bool ran = !job_.placement().empty() && job_.rescale_time() < seconds;
    job_.Step(seconds);
    if (learner_ && ran && !job_.completed()) {
      Measure();
      book_->Offer(job_.application().name(), *learner_);
    }
  }
  bool finished() const override { return job_.completed(); }
  double completion_time() const override { return job_.completion_time().value_or(-1); }
  double attained_service() const override { return job_.attained_service(); }
  int restarts() const override { return job_.num_restarts().value_or(0); }
  std::vector<double> Speedup(int max_workers) const override {
    if (!learner_) return job_.SpeedupProfile(max_workers);
    if (learner_->points() == 0 && !learner_->learned_prior()) {
      // Asked first when submitted: start from an earlier job of the application if one has shown enough.
      if (const sched::ThroughputParams* prior = book_->Find(job_.application().name())) {
        learner_.emplace(LimitsOf(job_.application()), *prior, /*learned_prior=*/true);
      } else {
        // Knowing nothing, a job asks for one GPU: growing it on a guess
        // costs a 30 s restart per change when the guess is wrong.
        return {0, 1};
      }
    }
    return learner_->Profile(max_workers, kGpusPerNode);
  }
  // A job knows how long it was asked to train (its epochs, as a training
  // script does) and how far it is; the rate on one GPU is its model's.
  double RemainingWork() const override {
    const Application& app = job_.application();
    const double left = std::max(0.0, app.Progress(app.CompletionEpoch() + 1) - job_.progress());
    double rate = 0;
    if (!learner_) {
      rate = app.OptimalGoodput(app.Normalize({1}), std::min(job_.epoch(), app.CompletionEpoch()));
    } else if (learner_->points() > 0 || learner_->learned_prior()) {
      rate = learner_->Best(1, 1).goodput;
    }
    return rate > 0 ? left / rate : 0;
  }

 private:
  static sched::BatchLimits LimitsOf(const Application& app) {
    sched::BatchLimits l;
    l.init_batch = app.init_batch_size();
    l.max_batch = app.max_batch_size();
    l.min_local = app.min_local_bsz();
    l.max_local = app.max_local_bsz();
    l.adaptive = true;
    return l;
  }

  // What the runtime would measure over the round: the step time of its
  // placement and micro-batch, and the gradient noise at its batch.
  void Measure() {
    const Application& app = job_.application();
    const PlacementKey key = app.Normalize(job_.placement());
    const Geometry& g = job_.geometry();
    if (key.num_replicas <= 0 || g.atomic_bsz <= 0) return;
    const StepTimes t = app.Throughput(key, g.atomic_bsz);
    learner_->Observe({key.num_nodes, key.num_replicas, static_cast<double>(g.atomic_bsz), t.step_time,
                       t.step_time - t.sync_time});
    const int epoch = std::min(job_.epoch(), app.CompletionEpoch());
    const GradientStats s = app.GradStats(job_.batch_size(), epoch);
    const double batch = job_.batch_size();
    book_->ObserveNoise(app.name(), epoch, batch, {s.grad_sqr, s.grad_var});
    learner_->ObserveNoise({s.grad_sqr, s.grad_var}, batch);
    learner_->SetNoiseGrowth(book_->NoiseGrowth(app.name()));
  }

  Geometry Choose(const PlacementKey& key) const {
    const Application& app = job_.application();
    const sched::BatchChoice c = learner_->Best(key.num_nodes, key.num_replicas);
    Geometry g;
    g.num_replicas = key.num_replicas;
    g.feasible = c.feasible;
    g.atomic_bsz = std::clamp(static_cast<int>(std::lround(c.feasible ? c.local_batch : app.min_local_bsz())),
                              app.min_local_bsz(), app.max_local_bsz());
    g.accum_steps = c.feasible ? c.accum_steps : 0;
    return g;
  }

  // Lets the time pass that the job spent unsubmitted or without GPUs.
  void CatchUp(double now) {
    if (job_.current_time() < now) job_.Step(now - job_.current_time());
  }

  SimJob job_;
  std::shared_ptr<sched::PriorBook> book_;
  //! Refits lazily when asked, hence mutable behind the const Speedup().
  mutable std::optional<sched::GoodputModel> learner_;
};

}  // namespace

Result<std::vector<WorkloadRow>> LoadWorkload(const std::string& path) {
  std::ifstream in(path);
  if (!in) return NotFound(path + ": cannot open the workload file");
  std::string line;
  std::getline(in, line);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line != "name,time,application,num_replicas,batch_size") {
    return InvalidArgument(path + ":1: expected header 'name,time,application,num_replicas,batch_size', got '" +
                           line + "'");
  }
  std::vector<WorkloadRow> rows;
  int lineno = 1;
  while (std::getline(in, line)) {
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    std::vector<std::string> f;
    std::stringstream ss(line);
    for (std::string cell; std::getline(ss, cell, ',');) f.push_back(cell);
    std::string where = path + ":" + std::to_string(lineno) + ": ";
    if (f.size() != 5) return InvalidArgument(where + "expected 5 fields, got " + std::to_string(f.size()));
    WorkloadRow r;
    r.name = f[0];
    r.application = f[2];
    char* end = nullptr;
    r.time = std::strtod(f[1].c_str(), &end);
    if (f[1].empty() || *end || !(r.time >= 0) || !std::isfinite(r.time)) {
      return InvalidArgument(where + "time '" + f[1] + "' is not a non-negative number");
    }
    auto positive = [](const std::string& text, int* out) {
      char* e = nullptr;
      errno = 0;
      long v = std::strtol(text.c_str(), &e, 10);
      if (text.empty() || *e || errno || v <= 0 || v > 1'000'000) return false;
      *out = static_cast<int>(v);
      return true;
    };
    if (!positive(f[3], &r.num_replicas)) {
      return InvalidArgument(where + "num_replicas '" + f[3] + "' must be a positive integer");
    }
    if (!positive(f[4], &r.batch_size)) {
      return InvalidArgument(where + "batch_size '" + f[4] + "' must be a positive integer");
    }
    rows.push_back(std::move(r));
  }
  if (rows.empty()) return InvalidArgument(path + ": the workload has no jobs");
  return rows;
}

Result<std::vector<SimJobSpec>> BuildPolluxJobs(const std::vector<WorkloadRow>& rows,
                                                const std::map<std::string, Application>& apps,
                                                bool elastic, int consumer, Profiles profiles) {
  std::vector<SimJobSpec> jobs;
  // One per workload: its jobs learn from earlier ones of their application.
  auto book = profiles == Profiles::kLearned ? std::make_shared<sched::PriorBook>() : nullptr;
  for (const WorkloadRow& r : rows) {
    auto it = apps.find(r.application);
    if (it == apps.end()) return NotFound("job " + r.name + ": no traces for application '" + r.application + "'");
    const Application* app = &it->second;
    SimJobSpec s;
    s.name = r.name;
    s.kind = r.application;
    s.consumer = consumer;
    s.submit = r.time;
    s.resize_pause = SimJob::kRescaleSeconds;
    if (!elastic) {
      s.workers = {r.num_replicas, r.num_replicas};
      s.model = std::make_unique<PolluxJob>(SimJob::Rigid(r.name, app, r.time, r.num_replicas, r.batch_size), nullptr);
    } else if (r.application == "ncf") {
      s.workers = {1, 1};
      s.model = std::make_unique<PolluxJob>(SimJob::Rigid(r.name, app, r.time, 1, 32768), nullptr);
    } else {
      int max = std::clamp(app->max_batch_size() / std::max(app->min_local_bsz(), 1), 1, 64);
      s.workers = {1, max};
      s.use_profile = true;
      s.model = std::make_unique<PolluxJob>(SimJob::Elastic(r.name, app, r.time), book);
    }
    jobs.push_back(std::move(s));
  }
  return jobs;
}

}  // namespace drover::sim

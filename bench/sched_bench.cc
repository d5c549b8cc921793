// Scheduler speed: one Decide at the simulator's 64 GPUs, and at scale
// (10,000 hosts x 8 GPUs, 100,000 pending jobs in 200 consumers), every job
// with a speedup profile, its remaining work and a resize pause; and what the live server adds each cycle to make
// those profiles from learned models (sched/goodput_model.h).
//
// Each benchmark repetition is one Decide, so the p50/p95 statistics are per
// call. Peers, for scale (not run here): the Pollux reference policy takes
// about 2 s per round at 64 GPUs (its paper); Kubernetes' default scheduler
// places a few hundred pods per second.
#include <algorithm>
#include <cmath>
#include <random>

#include <benchmark/benchmark.h>

#include "sched/elastic_policy.h"
#include "sched/goodput_model.h"
#include "sched/policy.h"

namespace drover::sched {
namespace {

double Percentile(const std::vector<double>& v, double q) {
  std::vector<double> s(v);
  std::sort(s.begin(), s.end());
  return s.empty() ? 0 : s[std::min(s.size() - 1, static_cast<size_t>(q * static_cast<double>(s.size())))];
}

// The simulator's cluster mid-workload: 16 x 4 GPUs, 100 jobs (60 running,
// 40 pending), elastic with concave throughput profiles, two teams.
ClusterState SixtyFourGpus(std::mt19937_64& rng) {
  ClusterState s;
  int a = s.consumers.Add(0, "a", {.owned = 32}).value();
  int b = s.consumers.Add(0, "b", {.owned = 32}).value();
  for (int h = 0; h < 16; ++h) s.hosts.push_back({"n" + std::to_string(h), {4, 64000, 1 << 20}, true});
  std::vector<int> free(16, 4);
  std::uniform_real_distribution<double> u(0, 1);
  for (int j = 0; j < 100; ++j) {
    JobState job;
    job.id = j;
    job.consumer = j % 2 ? a : b;
    job.workers = {1, 16};
    job.per_worker = {1, 1000, 1024};
    job.submit_time = j * 60;
    job.attained_service = u(rng) * 3600 * 8;
    job.remaining_work = u(rng) * 3600 * 8;  // as the server gives it
    job.resize_pause = 0.5;
    double alpha = 0.5 + 0.45 * u(rng);
    job.speedup.push_back(0);
    for (int k = 1; k <= 16; ++k) job.speedup.push_back(std::pow(k, alpha));
    if (j < 60) {
      for (int h = 0; h < 16; ++h) {
        if (free[h] > 0) {
          --free[h];
          job.placement = {{h, 1}};
          break;
        }
      }
    }
    s.jobs.push_back(std::move(job));
  }
  return s;
}

void BM_Decide64Gpus(benchmark::State& st) {
  std::mt19937_64 rng(42);
  ClusterState s = SixtyFourGpus(rng);
  auto policy = MakePolicy("drover").value();
  for (auto _ : st) benchmark::DoNotOptimize(policy->Decide(s, 3600));
}
BENCHMARK(BM_Decide64Gpus)
    ->Iterations(1)
    ->Repetitions(500)
    ->ReportAggregatesOnly(true)
    ->ComputeStatistics("p50", [](const std::vector<double>& v) { return Percentile(v, 0.5); })
    ->ComputeStatistics("p95", [](const std::vector<double>& v) { return Percentile(v, 0.95); })
    ->Unit(benchmark::kMillisecond);

// 10,000 hosts x 8 GPUs; 200 consumers (10 orgs x 20 teams); 100,000 pending
// jobs of 1, 2, 4 or 8 GPUs, a third of them elastic. `full`: the cluster is
// already busy with 40,000 running jobs, so the cycle is mostly reasons.
ClusterState AtScale(bool full) {
  std::mt19937_64 rng(7);
  ClusterState s;
  std::vector<int> teams;
  for (int o = 0; o < 10; ++o) {
    int org = s.consumers.Add(0, "org" + std::to_string(o), {.owned = 8000}).value();
    for (int t = 0; t < 20; ++t) {
      teams.push_back(s.consumers.Add(org, "team" + std::to_string(t), {.owned = 400, .share = 1.0 + t % 3}).value());
    }
  }
  for (int h = 0; h < 10000; ++h) s.hosts.push_back({"h" + std::to_string(h), {8, 96000, 1 << 20}, true});
  const int sizes[] = {1, 1, 1, 2, 2, 4, 8};
  JobId id = 0;
  int host = 0, used = 0;
  auto add = [&](bool running) {
    JobState j;
    j.id = id++;
    j.consumer = teams[rng() % teams.size()];
    int g = sizes[rng() % 7];
    bool elastic = rng() % 3 == 0;
    j.workers = elastic ? WorkerBounds{1, g * 2} : WorkerBounds{g, g};
    j.per_worker = {1, 4000, 16384};
    j.submit_time = static_cast<double>(j.id);
    const double alpha = 0.5 + 0.45 * static_cast<double>(rng() % 1000) / 1000;
    j.remaining_work = static_cast<double>(60 + rng() % 28800);
    j.resize_pause = 0.5;
    j.speedup.push_back(0);
    for (int k = 1; k <= j.workers.max; ++k) j.speedup.push_back(std::pow(k, alpha));
    if (running) {
      int n = j.workers.min;
      if (used + n > 8) host++, used = 0;
      j.placement = {{host, n}};
      used += n;
    }
    s.jobs.push_back(std::move(j));
  };
  if (full) {
    while (host < 9990) add(true);
  }
  for (int k = 0; k < 100000; ++k) add(false);
  return s;
}

void ScaleBenchmark(benchmark::State& st, bool full) {
  ClusterState s = AtScale(full);
  auto policy = MakePolicy("drover").value();
  size_t starts = 0;
  for (auto _ : st) {
    Decisions d = policy->Decide(s, 1000);
    starts = 0;
    for (const Decision& c : d.changes) starts += c.action == Action::kStart;
  }
  st.counters["starts"] = static_cast<double>(starts);
  st.counters["placements_per_s"] = benchmark::Counter(static_cast<double>(starts), benchmark::Counter::kIsRate);
  st.counters["jobs"] = static_cast<double>(s.jobs.size());
}

void BM_DecideAtScaleEmptyCluster(benchmark::State& st) { ScaleBenchmark(st, false); }
void BM_DecideAtScaleBusyCluster(benchmark::State& st) { ScaleBenchmark(st, true); }
BENCHMARK(BM_DecideAtScaleEmptyCluster)->Iterations(1)->Repetitions(5)->Unit(benchmark::kMillisecond)
    ->ComputeStatistics("p50", [](const std::vector<double>& v) { return Percentile(v, 0.5); });
BENCHMARK(BM_DecideAtScaleBusyCluster)->Iterations(1)->Repetitions(5)->Unit(benchmark::kMillisecond)
    ->ComputeStatistics("p50", [](const std::vector<double>& v) { return Percentile(v, 0.5); });

// The live server's part: each cycle it asks every running job's learned
// model for its profile (the fit itself runs only when a new point arrives).
// 100 jobs of up to 16 workers, each fitted to 6 measured sizes; `adaptive`:
// jobs that choose their batch (up to 16x), so every size searches batches.
std::vector<GoodputModel> FittedModels(bool adaptive) {
  std::vector<GoodputModel> models;
  for (int j = 0; j < 100; ++j) {
    BatchLimits l;
    l.init_batch = l.max_batch = l.max_local = 256;
    if (adaptive) l.max_batch = l.max_local = 4096, l.adaptive = true;
    GoodputModel m(l);
    for (int k : {1, 2, 4, 6, 8, 12}) {
      const double local = 256.0 / k, compute = 0.01 + 0.001 * local;
      m.Observe({(k + 3) / 4, k, local, compute + (k > 1 ? 0.02 + 0.002 * (j % 7) : 0), compute});
    }
    m.ObserveNoise({1, 4});
    (void)m.Params();  // fitted once, as on arrival of its points
    models.push_back(std::move(m));
  }
  return models;
}

// `changed`: every job's gradient noise moved since the last cycle, so every
// profile is recomputed; otherwise each model answers from its cache. Each
// cycle the server also asks each model for its best geometry on one worker
// (Job::RemainingWork), as here.
void LearnedProfiles(benchmark::State& st, bool adaptive, bool changed) {
  std::vector<GoodputModel> models = FittedModels(adaptive);
  for (GoodputModel& m : models) (void)m.Profile(16, 4);
  double var = 4;
  for (auto _ : st) {
    var += changed ? 0.01 : 0;
    for (GoodputModel& m : models) {
      m.ObserveNoise({1, var});
      benchmark::DoNotOptimize(m.Profile(16, 4));
      benchmark::DoNotOptimize(m.Best(1, 1));
    }
  }
}
void BM_LearnedProfiles100Jobs(benchmark::State& st) { LearnedProfiles(st, false, true); }
void BM_LearnedProfiles100AdaptiveJobs(benchmark::State& st) { LearnedProfiles(st, true, true); }
void BM_LearnedProfiles100AdaptiveJobsUnchanged(benchmark::State& st) { LearnedProfiles(st, true, false); }
BENCHMARK(BM_LearnedProfiles100Jobs)->Iterations(1)->Repetitions(50)->Unit(benchmark::kMillisecond)
    ->ComputeStatistics("p95", [](const std::vector<double>& v) { return Percentile(v, 0.95); });
BENCHMARK(BM_LearnedProfiles100AdaptiveJobs)->Iterations(1)->Repetitions(50)->Unit(benchmark::kMillisecond)
    ->ComputeStatistics("p95", [](const std::vector<double>& v) { return Percentile(v, 0.95); });
BENCHMARK(BM_LearnedProfiles100AdaptiveJobsUnchanged)->Iterations(1)->Repetitions(50)->Unit(benchmark::kMillisecond)
    ->ComputeStatistics("p95", [](const std::vector<double>& v) { return Percentile(v, 0.95); });

// One refit after a new point (warm-started from the last fit), 7 points.
void BM_RefitOnANewPoint(benchmark::State& st) {
  std::vector<GoodputModel> models = FittedModels(false);
  int n = 0;
  for (auto _ : st) {
    GoodputModel& m = models[static_cast<size_t>(n) % models.size()];
    const double local = 256.0 / 16, compute = 0.01 + 0.001 * local;
    m.Observe({4, 16, local, compute + 0.03 + 0.0001 * n++, compute});
    benchmark::DoNotOptimize(m.Params());
  }
}
BENCHMARK(BM_RefitOnANewPoint)->Iterations(1)->Repetitions(50)->Unit(benchmark::kMillisecond)
    ->ComputeStatistics("p95", [](const std::vector<double>& v) { return Percentile(v, 0.95); });

}  // namespace
}  // namespace drover::sched

BENCHMARK_MAIN();

// Durable job submissions per second through SqliteStore, each one Apply of
// the batch the server writes for a submission (the job, its first event and
// the id allocator's mark), from 1 and 8 threads.
//
// Peer, in the same run: the same store with group commit off (one
// transaction, so one WAL fsync, per submission). The ratio is the point:
// with group commit, 8 waiting callers share each fsync. The database lives
// in a fresh directory under $TMPDIR (default /tmp) per run.
//
// Also: reading the console's history from a store with a long one, against
// a store holding only the series read (BM_HistoryRead).
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "store/sqlite_store.h"

namespace drover::store {
namespace {

namespace fs = std::filesystem;

WriteBatch Submission(JobId id) {
  WriteBatch b;
  JobRecord j;
  j.id = id;
  j.name = "job-" + std::to_string(id);
  j.consumer = "/research/vision";
  j.user = "alice";
  j.workers = {1, 8};
  j.per_worker = {1, 8000, 65536};
  j.argv = {"python", "train.py", "--epochs", "90", "--batch-size", "256"};
  j.env = {{"NCCL_DEBUG", "WARN"}};
  j.state = api::JobState::kPending;
  j.submit_time = 1700000000.0 + static_cast<double>(id);
  j.spec_yaml = "name: " + j.name + "\nconsumer: /research/vision\nworkers: {min: 1, max: 8}\n";
  b.jobs.push_back(j);
  b.events.push_back({id, j.submit_time, "state", "submitted"});
  b.next_job_id = id + 1;
  return b;
}

struct Run {
  std::string dir;
  std::unique_ptr<SqliteStore> store;
  std::atomic<JobId> next_id{1};
  std::chrono::steady_clock::time_point start;
};
Run* g_run = nullptr;
// The last run's submissions/s, keyed by (group commit, threads).
std::map<std::pair<bool, int>, double> g_rates;

void BM_Submit(benchmark::State& state) {
  const bool group_commit = state.range(0) != 0;
  if (state.thread_index() == 0) {
    g_run = new Run;
    std::string tmpl = (fs::temp_directory_path() / "store_bench.XXXXXX").string();
    g_run->dir = ::mkdtemp(tmpl.data());
    auto s = SqliteStore::Open(g_run->dir, {.group_commit = group_commit});
    if (!s.ok()) {
      state.SkipWithError(s.status().ToString().c_str());
      return;
    }
    g_run->store = std::move(s).value();
  }
  bool first = true;
  for (auto _ : state) {
    if (first && state.thread_index() == 0) g_run->start = std::chrono::steady_clock::now();
    first = false;
    WriteBatch b = Submission(g_run->next_id.fetch_add(1));
    Status st = g_run->store->Apply(b);
    if (!st.ok()) state.SkipWithError(st.ToString().c_str());
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0 && g_run != nullptr) {
    double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - g_run->start).count();
    double done = static_cast<double>(g_run->next_id.load() - 1);
    g_rates[{group_commit, state.threads()}] = secs > 0 ? done / secs : 0;
    state.counters["submissions/s"] = secs > 0 ? done / secs : 0;
    g_run->store.reset();
    std::error_code ec;
    fs::remove_all(g_run->dir, ec);
    delete g_run;
    g_run = nullptr;
  }
}
BENCHMARK(BM_Submit)
    ->ArgName("group_commit")
    ->Arg(1)
    ->Arg(0)
    ->Threads(1)
    ->Threads(8)
    ->UseRealTime()
    ->MinTime(2.0);

// Reading the console's history (Store::Samples) from a store that holds only
// the series read, against one that also holds a full retention of 20 series
// (30 days of 5-minute averages, 6 hours of 10 s samples: 216,000 rows). A
// long history must not slow a page: the ratio of the two is the point.
constexpr double kNow = 1800000000;
std::map<int, double> g_read_us;  // by (0: one series, 1: full history) * 10 + (0: an hour, 1: 30 days)

void BM_HistoryRead(benchmark::State& state) {
  const bool full = state.range(0) != 0;
  const bool month = state.range(1) != 0;
  std::string tmpl = (fs::temp_directory_path() / "store_bench.XXXXXX").string();
  const std::string dir = ::mkdtemp(tmpl.data());
  auto opened = SqliteStore::Open(dir, {});
  if (!opened.ok()) {
    state.SkipWithError(opened.status().ToString().c_str());
    return;
  }
  std::unique_ptr<SqliteStore> store = std::move(opened).value();
  const int series = full ? 20 : 1;
  auto values = [](double t) {
    return std::map<std::string, double>{{"gpus", 64}, {"gpus_used", std::fmod(t, 64)}, {"hosts_up", 16},
                                         {"hosts_down", 0}, {"jobs_running", 12}, {"jobs_pending", 3}};
  };
  WriteBatch b;
  auto flush = [&] {
    Status st = store->Apply(b);
    if (!st.ok()) state.SkipWithError(st.ToString().c_str());
    b = WriteBatch{};
  };
  for (int s = 0; s < series; ++s) {
    const std::string name = s == 0 ? "cluster" : "job:" + std::to_string(s);
    for (double t = kNow - 30 * 86400; t < kNow; t += 300) {
      b.samples.push_back({name, t, 300, values(t)});
      if (b.samples.size() == 5000) flush();
    }
    for (double t = kNow - 6 * 3600; t < kNow; t += 10) {
      b.samples.push_back({name, t, 10, values(t)});
      if (b.samples.size() == 5000) flush();
    }
  }
  flush();
  const double resolution = month ? 300 : 10;
  const double since = month ? kNow - 30 * 86400 : kNow - 3600;
  size_t rows = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) {
    auto r = store->Samples("cluster", resolution, since, 5000);
    if (!r.ok()) state.SkipWithError(r.status().ToString().c_str());
    rows = r.ok() ? r->size() : 0;
    benchmark::DoNotOptimize(rows);
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  state.counters["points"] = static_cast<double>(rows);
  if (state.iterations() > 0) g_read_us[(full ? 10 : 0) + (month ? 1 : 0)] = 1e6 * secs / state.iterations();
  store.reset();
  std::error_code ec;
  fs::remove_all(dir, ec);
}
BENCHMARK(BM_HistoryRead)->ArgNames({"full", "month"})->Args({0, 0})->Args({1, 0})->Args({0, 1})->Args({1, 1})
    ->Unit(benchmark::kMicrosecond)->MinTime(1.0);

}  // namespace
}  // namespace drover::store

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  using drover::store::g_rates;
  if (!g_rates.empty()) std::printf("\nDurable submissions/s (group commit vs peer: one transaction each)\n");
  for (int threads : {1, 8}) {
    auto with = g_rates.find({true, threads});
    auto without = g_rates.find({false, threads});
    if (with == g_rates.end() || without == g_rates.end()) continue;
    std::printf("  %d thread%s: %9.0f with group commit, %9.0f without (%.1fx)\n", threads,
                threads == 1 ? " " : "s", with->second, without->second,
                without->second > 0 ? with->second / without->second : 0.0);
  }
  using drover::store::g_read_us;
  std::printf("\nHistory reads (one series, 5000-point cap): a store of that series alone vs one with 20 series' full retention\n");
  for (int month : {0, 1}) {
    auto alone = g_read_us.find(month);
    auto full = g_read_us.find(10 + month);
    if (alone == g_read_us.end() || full == g_read_us.end()) continue;
    std::printf("  %s: %8.0f us alone, %8.0f us in the full store (%.2fx)\n",
                month ? "30 days (5-min averages)" : "last hour (10 s samples)", alone->second, full->second,
                alone->second > 0 ? full->second / alone->second : 0.0);
  }
  return 0;
}

#include "cli/sim_command.h"

#include <algorithm>
#include <unistd.h>

#include <cstdio>
#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <memory>
#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>

#include "sched/policy.h"
#include "sim/application.h"
#include "sim/philly.h"
#include "sim/pollux_workload.h"
#include "sim/report.h"
#include "sim/simulator.h"
#include "spec/plan_parser.h"

namespace drover::cli {
namespace {

namespace fs = std::filesystem;

struct SimArgs {
  std::vector<std::string> workloads;
  std::vector<std::string> policies{"drover"};
  std::vector<std::string> profiles{"learned"};
  std::string traces;
  bool json = false;
  std::string report;
  bool philly = false;
  sim::PhillyOptions philly_opt;
  std::string plan;
  bool quiet = false;
  bool rounds_only = false;
};

// Bundled data: next to the binary once installed, else the source tree.
std::string DefaultTraces() {
  if (const char* env = std::getenv("DROVER_TRACES")) return env;
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    for (fs::path p : {exe.parent_path() / "../share/drover/pollux/traces"}) {
      if (fs::exists(p / "cifar10")) return p.lexically_normal();
    }
  }
  return std::string(DROVER_BUNDLED_DATA) + "/pollux/traces";
}

class Progress {
 public:
  explicit Progress(bool enabled) : enabled_(enabled), tty_(isatty(STDERR_FILENO)) {}
  void Update(const std::string& run, double now, int finished, int total) {
    if (!enabled_) return;
    std::lock_guard<std::mutex> lock(mu_);
    // A terminal gets a live line; a log gets a line every few seconds.
    auto t = std::chrono::steady_clock::now();
    if (t - last_ < std::chrono::milliseconds(tty_ ? 200 : 5000)) return;
    last_ = t;
    std::fprintf(stderr, "%s%-28s simulated %6.1f h, %d/%d jobs done%s", tty_ ? "\r" : "", run.c_str(),
                 now / 3600, finished, total, tty_ ? "   " : "\n");
    std::fflush(stderr);
  }
  void Done() {
    if (enabled_ && tty_) std::fprintf(stderr, "\n");
  }

 private:
  bool enabled_, tty_;
  std::mutex mu_;
  std::chrono::steady_clock::time_point last_{};
};

struct Run {
  std::string workload, policy;
  sim::Profiles profiles = sim::Profiles::kLearned;
};

int RunSim(const SimArgs& a) {
  if (a.workloads.empty() && !a.philly) {
    std::cerr << "drover sim: give --workload FILE (a Pollux workload CSV) or --philly\n";
    return 2;
  }
  for (const std::string& p : a.policies) {
    auto made = sched::MakePolicy(p);
    if (!made.ok()) {
      std::cerr << "drover sim: " << made.status().message() << "\n";
      return 2;
    }
  }
  std::string traces = a.traces.empty() ? DefaultTraces() : a.traces;
  Progress progress(!a.quiet && !a.json);
  std::vector<sim::SimResult> results;

  if (a.philly) {
    sim::PhillyOptions philly_opt = a.philly_opt;
    if (!a.plan.empty()) {
      auto plan = LoadPlanFile(a.plan);
      if (!plan.ok()) {
        std::cerr << "drover sim: " << plan.status().message() << "\n";
        return 2;
      }
      philly_opt.plan = std::move(plan).value();
    }
    std::string path = traces + "/philly.csv";
    auto rows = sim::LoadPhillyTrace(path);
    if (!rows.ok()) {
      std::cerr << "drover sim: " << rows.status().message() << "\n";
      return 1;
    }
    // Each run consumes its jobs, so every policy gets its own copy of the workload.
    std::vector<std::shared_ptr<sim::PhillyWorkload>> workloads;
    for (size_t i = 0; i < a.policies.size(); ++i) {
      auto w = sim::BuildPhillyWorkload(*rows, philly_opt);
      if (!w.ok()) {
        std::cerr << "drover sim: " << w.status().message() << "\n";
        return 2;
      }
      workloads.push_back(std::make_shared<sim::PhillyWorkload>(std::move(w).value()));
    }
    if (!a.json && !a.quiet) {
      std::fprintf(stderr, "philly: %zu jobs from %s over %g days on %d GPUs (%d larger jobs dropped)\n",
                   workloads[0]->jobs.size(), philly_opt.start.c_str(), philly_opt.days, philly_opt.gpus,
                   workloads[0]->dropped);
    }
    std::vector<std::future<sim::SimResult>> futures;
    for (size_t i = 0; i < a.policies.size(); ++i) {
      const std::string& p = a.policies[i];
      std::shared_ptr<sim::PhillyWorkload> w = workloads[i];
      futures.push_back(std::async(std::launch::async, [&, p, w]() {
        auto policy = std::move(sched::MakePolicy(p).value());
        sim::SimOptions opt;
        opt.nodes = philly_opt.gpus / 8;
        opt.gpus_per_node = 8;
        opt.start_time = std::floor(w->start / 60) * 60;
        opt.max_time = (philly_opt.days + 30) * 86400;
        opt.fairness = true;
        if (a.rounds_only) opt.reaction = 0;
        opt.progress_every = 86400;
        opt.progress = [&, p](double now, int f, int t) {
          progress.Update("philly/" + p, now - w->start, f, t);
        };
        sim::SimResult r = sim::Simulate(std::move(w->jobs), w->plan, *policy, opt);
        r.workload = "philly " + philly_opt.start + " +" + std::to_string(static_cast<int>(philly_opt.days)) + "d";
        return r;
      }));
    }
    for (auto& f : futures) results.push_back(f.get());
  } else {
    auto apps = sim::Application::LoadBundled(traces);
    if (!apps.ok()) {
      std::cerr << "drover sim: " << apps.status().message() << "\n";
      return 1;
    }
    std::vector<std::vector<sim::WorkloadRow>> loaded;
    for (const std::string& w : a.workloads) {
      auto rows = sim::LoadWorkload(w);
      if (!rows.ok()) {
        std::cerr << "drover sim: " << rows.status().message() << "\n";
        return 2;
      }
      loaded.push_back(std::move(rows).value());
    }
    // Runs are independent: spread them over the cores.
    // The elastic policy runs once per profile source; rigid ones use none.
    std::vector<Run> runs;
    for (const std::string& w : a.workloads) {
      for (const std::string& p : a.policies) {
        if (p != "drover") {
          runs.push_back({w, p});
          continue;
        }
        for (const std::string& source : a.profiles) {
          runs.push_back({w, p, source == "oracle" ? sim::Profiles::kOracle : sim::Profiles::kLearned});
        }
      }
    }
    results.resize(runs.size());
    std::atomic<size_t> next{0};
    std::atomic<bool> failed{false};
    std::string error;
    std::mutex error_mu;
    auto worker = [&]() {
      for (size_t i; (i = next++) < runs.size();) {
        size_t wi = static_cast<size_t>(std::find(a.workloads.begin(), a.workloads.end(), runs[i].workload) -
                                        a.workloads.begin());
        bool elastic = runs[i].policy == "drover";
        auto jobs = sim::BuildPolluxJobs(loaded[wi], *apps, elastic, 0, runs[i].profiles);
        if (!jobs.ok()) {
          std::lock_guard<std::mutex> lock(error_mu);
          error = jobs.status().message();
          failed = true;
          return;
        }
        auto policy = std::move(sched::MakePolicy(runs[i].policy).value());
        sim::SimOptions opt;
        if (a.rounds_only) opt.reaction = 0;
        const std::string name =
            runs[i].policy + (elastic && runs[i].profiles == sim::Profiles::kOracle ? "-oracle" : "");
        std::string label = fs::path(runs[i].workload).stem().string() + "/" + name;
        opt.progress = [&, label](double now, int f, int t) { progress.Update(label, now, f, t); };
        ConsumerTree tree;
        results[i] = sim::Simulate(std::move(jobs).value(), tree, *policy, opt);
        results[i].policy = name;
        results[i].workload = fs::path(runs[i].workload).filename().string();
      }
    };
    unsigned n = std::max(1u, std::min<unsigned>(std::thread::hardware_concurrency(), runs.size()));
    std::vector<std::thread> threads;
    for (unsigned t = 0; t < n; ++t) threads.emplace_back(worker);
    for (auto& t : threads) t.join();
    if (failed) {
      std::cerr << "drover sim: " << error << "\n";
      return 2;
    }
  }
  progress.Done();

  if (a.json) {
    if (results.size() == 1) {
      std::cout << nlohmann::json(results[0]).dump() << "\n";
    } else {
      nlohmann::json runs = nlohmann::json::array();
      for (const auto& r : results) runs.push_back(r);
      std::cout << nlohmann::json{{"runs", runs}}.dump() << "\n";
    }
  } else {
    std::cout << sim::RenderTextTable(results);
    for (const sim::SimResult& r : results) {
      if (r.fairness.empty()) continue;
      std::printf("\nfairness under %s (GPU-hours owed after the grace period while others borrowed):\n",
                  r.policy.c_str());
      int width = 8;  // the consumer column as wide as its longest path, so nothing overflows
      for (const auto& c : r.fairness) width = std::max(width, static_cast<int>(c.consumer.size()));
      std::printf("  %-*s %6s %6s %10s %12s %10s\n", width, "CONSUMER", "OWNED", "JOBS", "MEAN_JCT", "GPU_HOURS",
                  "OWED_GPU_H");
      for (const auto& c : r.fairness) {
        std::printf("  %-*s %6lld %6d %9.0fs %12.1f %10.2f\n", width, c.consumer.c_str(),
                    static_cast<long long>(c.owned), c.jobs, c.mean_jct, c.gpu_seconds / 3600,
                    c.owed_gpu_seconds / 3600);
      }
    }
  }
  if (!a.report.empty()) {
    std::ofstream out(a.report);
    out << sim::RenderHtmlReport(results, a.philly ? "drover sim — Philly replay" : "drover sim — Pollux workloads");
    if (!out) {
      std::cerr << "drover sim: cannot write " << a.report << "\n";
      return 1;
    }
    if (!a.json) std::cout << "\nreport: " << a.report << "\n";
  }
  return 0;
}

}  // namespace

void AddSimCommand(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<SimArgs>();
  CLI::App* sim = app.add_subcommand("sim", "Run the trace-driven simulator and compare scheduling policies");
  sim->add_option("--workload", args->workloads, "Pollux workload CSV (repeatable, or comma-separated)")
      ->delimiter(',')
      ->check(CLI::ExistingFile);
  sim->add_option("--policy", args->policies, "drover, fifo, tiresias (repeatable, or comma-separated)")
      ->delimiter(',');
  sim->add_option("--profiles", args->profiles,
                  "where the drover policy's speedup profiles come from: learned (online, from the steps each job "
                  "has run; the default) or oracle (the true model); both: learned,oracle")
      ->delimiter(',')
      ->check(CLI::IsMember({"learned", "oracle"}));
  sim->add_option("--traces", args->traces, "directory of per-application traces (default: bundled)");
  sim->add_flag("--json", args->json, "print one JSON object (per run) instead of a table");
  sim->add_option("--report", args->report, "write an HTML report with charts to this file");
  sim->add_flag("--philly", args->philly, "replay the Philly trace with one consumer per virtual cluster");
  sim->add_option("--philly-start", args->philly_opt.start, "first day of the Philly window (YYYY-MM-DD)");
  sim->add_option("--philly-days", args->philly_opt.days, "days of submissions replayed");
  sim->add_option("--gpus", args->philly_opt.gpus, "cluster GPUs in Philly mode (hosts of 8)");
  sim->add_option("--grace", args->philly_opt.reclaim_grace, "reclaim grace (seconds) in the generated Philly plan");
  sim->add_option("--plan", args->plan, "consumer plan YAML for Philly mode (default: owned GPUs by demand)")
      ->check(CLI::ExistingFile);
  sim->add_flag("--rounds-only", args->rounds_only,
                "decide only at the end of each 60 s round, as the reference simulator does (by default the policy "
                "also decides at each submission and within 5 s of each completion, as drover's server does)");
  sim->add_flag("-q,--quiet", args->quiet, "no progress on stderr");
  sim->callback([args, &exit_code]() { exit_code = RunSim(*args); });
}

}  // namespace drover::cli

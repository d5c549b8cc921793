#include "cli/exp_command.h"

#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>

#include <nlohmann/json.hpp>

#include "cli/client.h"
#include "hpo/tabular.h"

namespace drover::cli {
namespace {

// The whole of `path`, gunzipped when it is gzip (zlib reads plain files as they are).
Result<std::string> ReadMaybeGzip(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (f == nullptr) return NotFound("cannot open " + path);
  std::string out;
  char buf[1 << 16];
  int n = 0;
  while ((n = gzread(f, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  int err = 0;
  std::string why = n < 0 ? gzerror(f, &err) : "";
  gzclose(f);
  if (n < 0) return InvalidArgument(path + ": " + why);
  return out;
}

struct SimFlags {
  std::string table;
  std::string direction;
  std::string algorithm = "tpe";
  int trials = 100;
  int seeds = 20;
  uint64_t first_seed = 0;
  bool json = false;
  bool categorical = false;
};

int RunSim(const SimFlags& f) {
  if (f.direction != "minimize" && f.direction != "maximize") {
    std::cerr << "drover exp sim: --direction: expected minimize or maximize\n";
    return kBadInput;
  }
  Result<std::string> text = ReadMaybeGzip(f.table);
  if (!text.ok()) {
    std::cerr << "drover exp sim: " << text.status().message() << "\n";
    return text.status().code() == StatusCode::kNotFound ? kNotFound : kBadInput;
  }
  Result<hpo::Table> table = hpo::Table::Parse(*text, f.table, !f.categorical);
  if (!table.ok()) {
    std::cerr << "drover exp sim: " << table.status().message() << "\n";
    return kBadInput;
  }
  const bool minimize = f.direction == "minimize";
  std::vector<double> bests;
  auto t0 = std::chrono::steady_clock::now();
  for (int s = 0; s < f.seeds; ++s) {
    auto run = hpo::RunOnTable(*table, {f.algorithm, f.trials, f.first_seed + static_cast<uint64_t>(s), minimize});
    if (!run.ok()) {
      std::cerr << "drover exp sim: " << run.status().message() << "\n";
      return kBadInput;
    }
    bests.push_back(run->empty() ? NAN : run->back());
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::vector<double> sorted = bests;
  std::sort(sorted.begin(), sorted.end());
  const size_t k = sorted.size();
  const double median = k == 0 ? NAN : k % 2 ? sorted[k / 2] : 0.5 * (sorted[k / 2 - 1] + sorted[k / 2]);
  const double best = table->Best(minimize);
  if (f.json) {
    nlohmann::json out = {{"table", f.table},         {"algorithm", f.algorithm}, {"direction", f.direction},
                          {"trials", f.trials},       {"seeds", f.seeds},         {"median_best", median},
                          {"bests", bests},           {"table_best", best},       {"configurations", table->rows()}, {"categorical", f.categorical},
                          {"seconds", seconds}};
    std::cout << out.dump() << "\n";
  } else {
    std::printf("%s: %s, %d trials, %d seeds: median best %.6g (table's best %.6g, regret %.4g); %.2f s\n",
                f.table.c_str(), f.algorithm.c_str(), f.trials, f.seeds, median, best, std::abs(median - best),
                seconds);
  }
  return kOk;
}

}  // namespace

void AddExpCommand(CLI::App& app, int& exit_code) {
  CLI::App* exp = app.add_subcommand("exp", "Hyperparameter-optimisation experiments");
  exp->require_subcommand(1);
  auto f = std::make_shared<SimFlags>();
  CLI::App* sim = exp->add_subcommand(
      "sim", "Judge a searcher offline on a table of pre-evaluated configurations (CSV, gzipped or not)");
  sim->add_option("--table", f->table, "CSV: parameter columns, then <metric>_seed<i> columns")->required();
  sim->add_option("--direction", f->direction, "minimize or maximize the metric")->required();
  sim->add_option("--algorithm", f->algorithm, "random, grid or tpe")->capture_default_str();
  sim->add_option("--trials", f->trials, "trials per run")->check(CLI::Range(1, 100000))->capture_default_str();
  sim->add_option("--seeds", f->seeds, "runs, seeds first-seed..")->check(CLI::Range(1, 10000))->capture_default_str();
  sim->add_option("--first-seed", f->first_seed, "the first run's seed")->capture_default_str();
  sim->add_flag("--json", f->json, "print one JSON object");
  sim->add_flag("--categorical", f->categorical,
                "treat every column as categorical (by default a column of numbers is ordered)");
  sim->callback([f, &exit_code]() { exit_code = RunSim(*f); });
}

}  // namespace drover::cli

#include "cli/exp_command.h"

#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <thread>

#include <nlohmann/json.hpp>

#include "cli/client.h"
#include "cli/command_util.h"
#include "hpo/early_stopping.h"
#include "hpo/tabular.h"
#include "spec/wmla_import.h"

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

// A curve as a line of block characters, lowest value lowest.
std::string Sparkline(const json& curve, size_t width = 24) {
  static const char* kBlocks[] = {"▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};
  std::vector<double> v;
  for (const json& p : curve) v.push_back(p[1].get<double>());
  if (v.size() > width) v.erase(v.begin(), v.end() - static_cast<long>(width));
  if (v.empty()) return std::string(width, ' ');
  auto [lo, hi] = std::minmax_element(v.begin(), v.end());
  std::string out;
  for (double x : v) out += kBlocks[*hi > *lo ? static_cast<int>(7.0 * (x - *lo) / (*hi - *lo) + 0.5) : 3];
  return out + std::string(width - v.size(), ' ');  // padded by characters shown, not bytes
}

void PrintExperiments(const json& list) {
  std::printf("%-5s %-20s %-18s %-10s %-10s %-9s %7s %8s %s\n", "ID", "NAME", "CONSUMER", "USER", "STATE",
              "ALGORITHM", "TRIALS", "RUNNING", "BEST");
  for (const json& e : list) {
    std::string best = e["best"].is_null() ? "-"
                                           : e["metric"].get<std::string>() + " " + hpo::ShortNumber(e["best"]["value"].get<double>()) +
                                                 " (trial " + std::to_string(e["best"]["trial"].get<int>()) + ")";
    std::printf("%-5lld %-20s %-18s %-10s %-10s %-9s %3zu/%-3d %8d %s\n", static_cast<long long>(e["id"].get<int64_t>()),
                e["name"].get<std::string>().c_str(), e["consumer"].get<std::string>().c_str(),
                e["user"].get<std::string>().c_str(), e["state"].get<std::string>().c_str(),
                e["algorithm"].get<std::string>().c_str(), e["trials_started"].get<size_t>(),
                e["max_trials"].get<int>(), e["trials_running"].get<int>(), best.c_str());
  }
}

void PrintExperiment(const json& e) {
  std::printf("experiment %lld %s: %s%s\n", static_cast<long long>(e["id"].get<int64_t>()),
              e["name"].get<std::string>().c_str(), e["state"].get<std::string>().c_str(),
              e["reason"].get<std::string>().empty() ? "" : (" (" + e["reason"].get<std::string>() + ")").c_str());
  std::printf("consumer %s, user %s; %s%s, %s %s; %zu/%d trials started, %d running\n",
              e["consumer"].get<std::string>().c_str(), e["user"].get<std::string>().c_str(),
              e["algorithm"].get<std::string>().c_str(),
              e["early_stopping"].get<std::string>().empty() || e["algorithm"] == e["early_stopping"]
                  ? ""
                  : (" + " + e["early_stopping"].get<std::string>() + " stopping").c_str(),
              e["goal"].get<std::string>().c_str(), e["metric"].get<std::string>().c_str(),
              e["trials_started"].get<size_t>(), e["max_trials"].get<int>(), e["trials_running"].get<int>());
  if (!e["best"].is_null()) {
    const json& b = e["trials"][e["best"]["trial"].get<size_t>()];
    std::string params;
    for (const auto& [k, v] : b["params"].items()) params += (params.empty() ? "" : " ") + k + "=" + v.get<std::string>();
    std::printf("best: trial %d, %s %s: %s\n", b["index"].get<int>(), e["metric"].get<std::string>().c_str(),
                hpo::ShortNumber(e["best"]["value"].get<double>()).c_str(), params.c_str());
  }
  std::printf("\n%-5s %-7s %-10s %4s %9s %9s %-24s %s\n", "TRIAL", "JOB", "STATE", "RUNG", "LATEST", "BEST",
              "CURVE", "PARAMETERS / REASON");
  for (const json& t : e["trials"]) {
    std::string params;
    for (const auto& [k, v] : t["params"].items()) params += (params.empty() ? "" : " ") + k + "=" + v.get<std::string>();
    std::string why = t.contains("pending_reason") ? "pending: " + t["pending_reason"].get<std::string>()
                                                   : t["reason"].get<std::string>();
    int rung = t["rung"].get<int>();
    std::printf("%-5d %-7lld %-10s %4s %9s %9s %s %s%s\n", t["index"].get<int>(),
                static_cast<long long>(t["job"].get<int64_t>()), t["state"].get<std::string>().c_str(),
                rung < 0 ? "-" : std::to_string(rung).c_str(),
                t.contains("latest") ? hpo::ShortNumber(t["latest"].get<double>()).c_str() : "-",
                t.contains("best") ? hpo::ShortNumber(t["best"].get<double>()).c_str() : "-",
                Sparkline(t.value("curve", json::array())).c_str(), params.c_str(),
                why.empty() ? "" : ("  [" + why + "]").c_str());
  }
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

  {
    auto c = std::make_shared<Common>();
    auto file = std::make_shared<std::string>();
    auto follow = std::make_shared<bool>(false);
    struct Wmla {
      std::string body, trial, name, consumer;
      bool dry_run = false;
    };
    auto wmla = std::make_shared<Wmla>();
    CLI::App* cmd = exp->add_subcommand("submit", "Submit an experiment (YAML): its trials run as jobs of its consumer");
    auto* file_opt = cmd->add_option("-f,--file", *file, "experiment YAML");
    auto* wmla_opt = cmd->add_option("--wmla", wmla->body, "instead: a WMLA hypersearch body (JSON), mapped to an experiment");
    file_opt->excludes(wmla_opt);
    cmd->add_option("--trial", wmla->trial, "with --wmla: the trial's job spec (YAML; ${params.NAME} for values)")
        ->needs(wmla_opt);
    cmd->add_option("--name", wmla->name, "with --wmla: the experiment's name (default: hpoName)")->needs(wmla_opt);
    cmd->add_option("--consumer", wmla->consumer, "with --wmla: the trials' consumer")->needs(wmla_opt);
    cmd->add_flag("--dry-run", wmla->dry_run, "with --wmla: print the experiment it maps to, submit nothing")
        ->needs(wmla_opt);
    cmd->add_flag("--follow", *follow, "show the trials until the experiment ends");
    AddOutput(cmd, *c);
    cmd->callback([=, &exit_code]() {
      std::string err;
      if (file->empty() && wmla->body.empty()) {
        std::cerr << "drover exp submit: give -f EXPERIMENT.yaml, or --wmla BODY.json --trial JOB.yaml\n";
        exit_code = kBadInput;
        return;
      }
      std::string yaml = ReadFile(wmla->body.empty() ? *file : wmla->body, &err);
      if (err.empty() && !wmla->body.empty()) {
        if (wmla->trial.empty()) err = "--wmla needs --trial JOB.yaml: WMLA's model session has no counterpart";
        std::string trial = err.empty() ? ReadFile(wmla->trial, &err) : "";
        if (err.empty()) {
          Result<WmlaImport> imported = ImportWmla(yaml, wmla->body, trial, wmla->name, wmla->consumer);
          if (!imported.ok()) {
            err = imported.status().message();
          } else {
            for (const std::string& n : imported->notes) std::cerr << "note: " << n << "\n";
            yaml = imported->experiment_yaml;
            if (wmla->dry_run) {
              std::cout << yaml;
              return;
            }
          }
        }
      }
      if (!err.empty()) {
        std::cerr << "drover exp submit: " << err << "\n";
        exit_code = kBadInput;
        return;
      }
      Client client = c->client();
      Reply r = client.Post("/api/v1/experiments?" + FileParam(wmla->body.empty() ? *file : wmla->body + " (mapped)"),
                            yaml, "application/yaml");
      if ((exit_code = Report("exp submit", r)) != kOk) return;
      const int64_t id = r.json["id"].get<int64_t>();
      if (c->as_json() && !*follow) return c->Print(r.json);
      std::cout << "experiment " << id << " submitted\n";
      if (!*follow) return;
      for (std::string last;;) {
        Reply s = client.Get("/api/v1/experiments/" + std::to_string(id) + "/trials");
        if ((exit_code = Report("exp submit", s)) != kOk) return;
        std::string state = s.json["state"];
        std::string line = std::to_string(s.json["trials_started"].get<size_t>()) + " started, " +
                           std::to_string(s.json["trials_running"].get<int>()) + " running" +
                           (s.json["best"].is_null() ? "" : ", best " + hpo::ShortNumber(s.json["best"]["value"].get<double>()));
        if (line != last) std::cout << Clock(std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count()) << " " << line << "\n";
        last = line;
        if (state != "RUNNING") {
          std::cout << "\n";
          PrintExperiment(s.json);
          exit_code = state == "SUCCEEDED" ? kOk : kServerError;
          return;
        }
        std::this_thread::sleep_for(std::chrono::seconds(2));
      }
    });
  }
  {
    auto c = std::make_shared<Common>();
    CLI::App* cmd = exp->add_subcommand("list", "Experiments you may see");
    AddOutput(cmd, *c);
    cmd->callback([=, &exit_code]() {
      Reply r = c->client().Get("/api/v1/experiments");
      if ((exit_code = Report("exp list", r)) != kOk) return;
      if (c->as_json()) return c->Print(r.json);
      PrintExperiments(r.json["experiments"]);
    });
  }
  for (bool trials : {false, true}) {
    auto c = std::make_shared<Common>();
    auto id = std::make_shared<int64_t>(0);
    CLI::App* cmd = exp->add_subcommand(trials ? "trials" : "show",
                                        trials ? "An experiment's trials with their curves (-o json for all of it)"
                                               : "An experiment: its trials, their curves and the best");
    cmd->add_option("id", *id, "experiment id")->required();
    AddOutput(cmd, *c);
    cmd->callback([=, &exit_code]() {
      Reply r = c->client().Get("/api/v1/experiments/" + std::to_string(*id) + "/trials");
      if ((exit_code = Report(trials ? "exp trials" : "exp show", r)) != kOk) return;
      if (c->as_json()) return c->Print(trials ? r.json["trials"] : r.json);
      PrintExperiment(r.json);
    });
  }
  {
    auto c = std::make_shared<Common>();
    auto id = std::make_shared<int64_t>(0);
    CLI::App* cmd = exp->add_subcommand("stop", "Stop an experiment: its running trials are cancelled");
    cmd->add_option("id", *id, "experiment id")->required();
    cmd->add_flag("--insecure", c->insecure, "do not verify the server's TLS certificate");
    cmd->callback([=, &exit_code]() {
      Reply r = c->client().Post("/api/v1/experiments/" + std::to_string(*id) + "/stop", "{}");
      if ((exit_code = Report("exp stop", r)) == kOk) std::cout << "experiment " << *id << " stopped\n";
    });
  }
}

}  // namespace drover::cli

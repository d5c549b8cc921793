#include "cli/user_commands.h"

#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include <yaml-cpp/yaml.h>

#include "cli/client.h"
#include "cli/command_util.h"
#include "common/percent_encode.h"

namespace drover::cli {
namespace {

// printf's format of one number, as a string.
std::string Fmt(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}


using json = nlohmann::json;

void PrintJobs(const json& jobs, bool wide) {
  std::printf("%-6s %-20s %-18s %-10s %-10s %7s %5s %6s %7s ", "ID", "NAME", "CONSUMER", "USER", "STATE", "WORKERS",
              "GPUS", "AGE", "ELAPSED");
  if (wide) std::printf("%8s %8s %6s %8s %9s ", "PRIORITY", "STARTED", "STEP", "LOSS", "SAMPLES/S");
  std::printf(" %s\n", "REASON");
  for (const json& j : jobs) {
    std::string w = std::to_string(j["world_size"].get<int>()) + "/" +
                    (j["workers"]["min"] == j["workers"]["max"]
                         ? std::to_string(j["workers"]["max"].get<int>())
                         : std::to_string(j["workers"]["min"].get<int>()) + "-" +
                               std::to_string(j["workers"]["max"].get<int>()));
    std::string state = j["state"];
    std::string reason = (state == "PENDING" || state == "PREEMPTED" || state == "FAILED") ? j.value("reason", "") : "";
    // ELAPSED: running time, from the first start to the end (or now); it stops when the job ends.
    const double start = j.value("start_time", json()).is_number() ? j["start_time"].get<double>() : 0;
    const double end = j.value("end_time", json()).is_number() ? j["end_time"].get<double>() : 0;
    std::string elapsed = start <= 0 ? "-" : end > 0 ? Duration(end - start) : Age(start);
    std::printf("%-6llu %-20s %-18s %-10s %-10s %7s %5lld %6s %7s ",
                static_cast<unsigned long long>(j["id"].get<uint64_t>()), j["name"].get<std::string>().c_str(),
                j["consumer"].get<std::string>().c_str(), j["user"].get<std::string>().c_str(), state.c_str(),
                w.c_str(), static_cast<long long>(j["gpus"].get<int64_t>()), Age(j["submit_time"]).c_str(),
                elapsed.c_str());
    if (wide) {
      auto shown = [&](const char* key, const char* fmt) {
        if (!j.value(key, json()).is_number()) return std::string("-");
        char buf[32];
        std::snprintf(buf, sizeof buf, fmt, j[key].get<double>());
        return std::string(buf);
      };
      std::printf("%8d %8s %6s %8s %9s ", j["priority"].get<int>(), start > 0 ? Clock(start).c_str() : "-",
                  shown("step", "%.0f").c_str(), shown("loss", "%.4g").c_str(), shown("samples_per_s", "%.1f").c_str());
    }
    std::printf(" %s\n", reason.c_str());
  }
}

int FollowJob(const Client& client, uint64_t id) {
  // Stream worker 0's log until the job ends, then report how it ended.
  Reply r = client.Stream("/api/v1/jobs/" + std::to_string(id) + "/logs?follow=1", [](const char* d, size_t n) {
    std::fwrite(d, 1, n, stdout);
    std::fflush(stdout);
    return true;
  });
  if (r.exit_code() != kOk) return Report("submit", r);
  for (int i = 0; i < 600; ++i) {
    Reply j = client.Get("/api/v1/jobs/" + std::to_string(id));
    if (j.exit_code() != kOk) return Report("submit", j);
    std::string state = j.json["state"];
    if (state == "SUCCEEDED") return kOk;
    if (state == "FAILED" || state == "CANCELLED") {
      std::cerr << "job " << id << " " << state << ": " << j.json.value("reason", "") << "\n";
      return kServerError;
    }
    // The log ended before the job did (e.g. worker 0 finished first): keep waiting.
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  std::cerr << "drover submit: stopped following job " << id << " after 5 minutes; it is still running\n";
  return kOk;
}

}  // namespace

void AddUserCommands(CLI::App& app, int& exit_code) {
  // login
  {
    auto server = std::make_shared<std::string>();
    auto token = std::make_shared<std::string>();
    auto insecure = std::make_shared<bool>(false);
    auto wait = std::make_shared<double>(0);
    auto ca_cert = std::make_shared<std::string>();
    CLI::App* cmd = app.add_subcommand("login", "Remember a server and a token (checks them first)");
    cmd->add_option("--wait", *wait, "seconds to keep trying while the server is not up yet (default 0)");
    cmd->add_option("--server", *server, "server URL, e.g. http://127.0.0.1:8080")->required();
    auto token_file = std::make_shared<std::string>();
    auto* by_value = cmd->add_option("--token", *token, "your token (admins: the admin.token file in the data dir)")
                         ->envname("DROVER_TOKEN");
    auto* by_file = cmd->add_option("--token-file", *token_file,
                                    "read the token from this file (keeps it out of `ps`), e.g. DATA_DIR/admin.token");
    by_value->excludes(by_file);
    cmd->add_flag("--insecure", *insecure, "do not verify the server's TLS certificate");
    cmd->add_option("--ca-cert", *ca_cert, "PEM file of the CA that signed the server's certificate (remembered)");
    cmd->callback([=, &exit_code]() {
      const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(*wait);
      std::string secret = *token;
      if (!token_file->empty()) {
        // A server on its first start writes its admin.token just before it listens: wait for it too.
        std::string err;
        for (;;) {
          err.clear();
          std::string text = ReadFile(*token_file, &err);
          secret = text.substr(0, text.find_first_of("\r\n"));
          if (err.empty() && !secret.empty()) break;
          if (std::chrono::steady_clock::now() >= until) {
            std::cerr << "drover login: " << (err.empty() ? *token_file + " is empty" : err) << "\n";
            exit_code = kBadInput;
            return;
          }
          std::this_thread::sleep_for(std::chrono::milliseconds(200));
        }
      } else if (secret.empty()) {
        std::cerr << "drover login: give --token, --token-file or DROVER_TOKEN\n";
        exit_code = kBadInput;
        return;
      }
      ClientConfig c{*server, secret, *insecure, ""};
      if (!ca_cert->empty()) {
        std::error_code ec;
        c.ca_cert = std::filesystem::absolute(*ca_cert, ec).string();
        if (!std::filesystem::exists(c.ca_cert)) {
          std::cerr << "drover login: --ca-cert " << *ca_cert << ": no such file\n";
          exit_code = kBadInput;
          return;
        }
      }
      Reply r = Client(c).Get("/api/v1/whoami");
      while (r.status == 0 && std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the server is starting
        r = Client(c).Get("/api/v1/whoami");
      }
      if (r.status == 401) {
        r.error = "the server at " + *server + " does not accept this token; check it (an admin's first token "
                  "is the admin.token file in the server's data dir)";
      }
      if (r.exit_code() != kOk) {
        exit_code = Report("login", r);
        return;
      }
      std::string err = SaveClientConfig(c);
      if (!err.empty()) {
        std::cerr << "drover login: " << err << "\n";
        exit_code = kServerError;
        return;
      }
      std::cout << "logged in to " << *server << " as " << r.json["name"].get<std::string>() << " ("
                << r.json["role"].get<std::string>() << ")\n";
    });
  }
  // submit
  {
    auto c = std::make_shared<Common>();
    auto file = std::make_shared<std::string>();
    auto follow = std::make_shared<bool>(false);
    CLI::App* cmd = app.add_subcommand("submit", "Submit a job from a YAML spec");
    cmd->add_option("-f,--file", *file, "job spec YAML")->required();
    cmd->add_flag("--follow", *follow, "stream worker 0's output until the job ends; exit 0 only if it succeeds");
    AddOutput(cmd, *c);
    cmd->callback([=, &exit_code]() {
      std::string err;
      std::string yaml = ReadFile(*file, &err);
      if (!err.empty()) {
        std::cerr << "drover submit: " << err << "\n";
        exit_code = kBadInput;
        return;
      }
      Client client = c->client();
      Reply r = client.Post("/api/v1/jobs?" + FileParam(*file), yaml, "application/yaml");
      if (r.exit_code() != kOk) {
        exit_code = Report("submit", r);
        return;
      }
      uint64_t id = r.json["id"];
      if (c->as_json()) c->Print(r.json);
      else std::cout << "job " << id << " submitted\n";
      if (*follow) exit_code = FollowJob(client, id);
    });
  }
  // jobs
  {
    auto c = std::make_shared<Common>();
    auto state = std::make_shared<std::string>();
    auto consumer = std::make_shared<std::string>();
    auto user = std::make_shared<std::string>();
    auto limit = std::make_shared<int>(100);
    CLI::App* cmd = app.add_subcommand("jobs", "List jobs (newest last)");
    cmd->add_option("--state", *state, "only jobs in this state (PENDING, RUNNING, ...)");
    cmd->add_option("--consumer", *consumer, "only jobs in this consumer subtree");
    cmd->add_option("--user", *user, "only this user's jobs");
    cmd->add_option("--limit", *limit, "at most this many (per page of 1000)");
    auto watch = std::make_shared<double>(0);
    cmd->add_option("-w,--watch", *watch, "print again every N seconds until interrupted (Ctrl-C)")
        ->check(CLI::Range(0.5, 3600.0));
    AddOutput(cmd, *c);
    cmd->callback([=, &exit_code]() {
      for (bool first = true; first || *watch > 0; first = false) {
        if (!first) {
          std::this_thread::sleep_for(std::chrono::duration<double>(*watch));
          std::printf("\n");
        }
        Client client = c->client();
        json all = json::array();
        std::string after = "0";
        while (static_cast<int>(all.size()) < *limit) {
          std::string q = "/api/v1/jobs?limit=" + std::to_string(std::min(1000, *limit - static_cast<int>(all.size()))) +
                          "&after=" + after;
          if (!state->empty()) q += "&state=" + PercentEncode(*state);
          if (!consumer->empty()) q += "&consumer=" + PercentEncode(*consumer);
          if (!user->empty()) q += "&user=" + PercentEncode(*user);
          Reply r = client.Get(q);
          if (r.exit_code() != kOk) {
            exit_code = Report("jobs", r);
            return;
          }
          for (const json& j : r.json["jobs"]) all.push_back(j);
          if (!r.json.contains("next")) break;
          after = std::to_string(r.json["next"].get<uint64_t>());
        }
        if (c->as_json()) c->Print(json{{"jobs", all}});
        else PrintJobs(all, c->wide());
        std::fflush(stdout);
      }
    });
  }
  // job ID
  {
    auto c = std::make_shared<Common>();
    auto id = std::make_shared<uint64_t>();
    CLI::App* cmd = app.add_subcommand("job", "Show one job: state, why it waits, workers, resizes and events");
    cmd->add_option("id", *id, "job id")->required();
    AddOutput(cmd, *c);
    cmd->callback([=, &exit_code]() {
      Reply r = c->client().Get("/api/v1/jobs/" + std::to_string(*id));
      if (r.exit_code() != kOk) {
        exit_code = Report("job", r);
        return;
      }
      const json& j = r.json;
      if (c->as_json()) {
        c->Print(j);
        return;
      }
      std::printf("Job %llu  %s\n", static_cast<unsigned long long>(j["id"].get<uint64_t>()),
                  j["name"].get<std::string>().c_str());
      std::printf("  State:     %s\n", j["state"].get<std::string>().c_str());
      std::string state = j["state"];
      bool explain = state == "PENDING" || state == "PREEMPTED" || state == "FAILED" || state == "CANCELLED";
      if (explain && !j.value("reason", "").empty()) {
        std::string kind = j.value("pending_kind", json()).is_string() ? "(" + j["pending_kind"].get<std::string>() + ") " : "";
        std::printf("  Reason:    %s%s\n", kind.c_str(), j["reason"].get<std::string>().c_str());
      }
      std::printf("  Consumer:  %s   User: %s   Priority: %d\n", j["consumer"].get<std::string>().c_str(),
                  j["user"].get<std::string>().c_str(), j["priority"].get<int>());
      const bool elastic = j["workers"]["min"] != j["workers"]["max"];
      std::string budget = elastic ? "Failures: " + std::to_string(j.value("failures", 0)) + "/" +
                                         std::to_string(j["max_restarts"].get<int>()) + " in a row"
                                   : "Restarts: " + std::to_string(j["restarts"].get<int>()) + "/" +
                                         std::to_string(j["max_restarts"].get<int>());
      std::printf("  Workers:   %d running, bounds %d..%d, each %lld GPU   %s\n", j["world_size"].get<int>(),
                  j["workers"]["min"].get<int>(), j["workers"]["max"].get<int>(),
                  static_cast<long long>(j["resources"]["gpus"].get<int64_t>()), budget.c_str());
      std::string cmdline;
      for (const json& a : j["command"]) cmdline += (cmdline.empty() ? "" : " ") + a.get<std::string>();
      std::printf("  Command:   %s\n", cmdline.c_str());
      if (!j.value("step", json()).is_null()) {  // reported by the workers' training runtime
        std::string progress = "step " + std::to_string(j["step"].get<int64_t>());
        char buf[64];
        if (!j.value("epoch", json()).is_null()) progress += ", epoch " + std::to_string(j["epoch"].get<int64_t>());
        if (!j.value("loss", json()).is_null()) {
          std::snprintf(buf, sizeof buf, ", loss %.4g", j["loss"].get<double>());
          progress += buf;
        }
        if (!j.value("samples_per_s", json()).is_null()) {
          std::snprintf(buf, sizeof buf, ", %.1f samples/s", j["samples_per_s"].get<double>());
          progress += buf;
        }
        progress += ", world size " + std::to_string(j["world_size"].get<int>());
        if (!j.value("samples_left", json()).is_null()) {
          std::snprintf(buf, sizeof buf, ", %.0f samples left", j["samples_left"].get<double>());
          progress += buf;
        }
        std::printf("  Progress:  %s\n", progress.c_str());
      }
      if (!j["worker_list"].empty()) {
        // A worker's id is its RANK variable: stable for its life, not renumbered when the job resizes.
        std::printf("\n  %-6s %-16s %-8s %-10s %s\n", "WORKER", "HOST", "PID", "STATE", "GPUS");
        for (const json& w : j["worker_list"]) {
          std::string gpus;
          for (const json& g : w["gpus"]) gpus += (gpus.empty() ? "" : ",") + std::to_string(g.get<int>());
          std::printf("  %-6d %-16s %-8d %-10s %s\n", w["rank"].get<int>(), w["host"].get<std::string>().c_str(),
                      w["pid"].get<int>(), w["state"].get<std::string>().c_str(), gpus.c_str());
        }
      }
      if (!j["rescales"].empty()) {
        std::printf("\n  Resizes:\n");
        constexpr size_t kShown = 20;
        const json& all = j["rescales"];
        if (all.size() > kShown) std::printf("  (%zu earlier not shown; -o json has them)\n", all.size() - kShown);
        for (size_t k = all.size() > kShown ? all.size() - kShown : 0; k < all.size(); ++k) {
          const json& s = all[k];
          std::string pause;
          if (!s.value("pause_ms", json()).is_null()) {
            pause = ", pause " + std::to_string(std::llround(s["pause_ms"].get<double>())) + " ms";
          }
          std::printf("  %s  %d -> %d workers%s\n", Clock(s["time"]).c_str(), s["from"].get<int>(),
                      s["to"].get<int>(), pause.c_str());
        }
      }
      if (const json& prof = j.value("profile", json()); prof.is_object()) {
        // What the scheduler believes of the job's speed, and what that rests on.
        const json& noise = prof["gradient_noise"];
        std::printf("\n  Learned profile (%d measured sizes, initial batch %.0f%s):\n", prof["points"].get<int>(),
                    prof["init_batch"].get<double>(),
                    noise.is_object() ? (", gradient noise |G|^2 " + Fmt("%.3g", noise["sqr"].get<double>()) +
                                         " var " + Fmt("%.3g", noise["var"].get<double>()))
                                            .c_str()
                                      : ", gradient noise not measured: it needs 2 workers or more");
        if (prof.value("time_left_s", json()).is_number()) {
          std::printf("  About %s left at its %d workers now, by this profile.\n",
                      Duration(prof["time_left_s"].get<double>()).c_str(), j["world_size"].get<int>());
        }
        if (prof.value("prior_from_job", json()).is_number()) {
          std::printf("  Started from the fit of job %s, an earlier run of the same command.\n",
                      prof["prior_from_job"].dump().c_str());
        }
        std::set<int> seen;
        for (const json& m : prof["measured"]) seen.insert(m["workers"].get<int>());
        std::printf("  %-8s %8s %12s %12s %8s  %s\n", "WORKERS", "BATCH", "SAMPLES/S", "GOODPUT", "SPEEDUP", "");
        for (const json& r : prof["by_size"]) {
          const int k = r["workers"].get<int>();
          std::printf("  %-8d %8.0f %12.1f %12.1f %8s  %s\n", k, r["batch"].get<double>(), r["samples_per_s"].get<double>(),
                      r["goodput"].get<double>(),
                      r["speedup"].is_number() ? Fmt("%.2fx", r["speedup"].get<double>()).c_str() : "-",
                      seen.count(k) ? "measured" : "predicted");
        }
      }
      std::printf("\n  Events:\n");
      for (const json& e : j["events"]) {
        std::printf("  %s  %-8s %s\n", Clock(e["time"]).c_str(), e["type"].get<std::string>().c_str(),
                    e["message"].get<std::string>().c_str());
      }
      if (state == "FAILED" && j.value("failed_rank", json()).is_number()) {
        // What the failing worker said last: usually why it failed.
        int rank = j["failed_rank"].get<int>();
        std::string out;
        (void)c->client().Stream("/api/v1/jobs/" + std::to_string(*id) + "/logs?worker=" +
                                            std::to_string(rank) + "&tail=10",
                                        [&out](const char* d, size_t n) {
                                          out.append(d, n);
                                          return out.size() < 64 * 1024;
                                        });
        if (!out.empty()) {
          std::printf("\n  Last output of worker %d:\n", rank);
          size_t at = 0;
          while (at < out.size()) {
            size_t nl = out.find('\n', at);
            if (nl == std::string::npos) nl = out.size();
            std::printf("  | %s\n", out.substr(at, nl - at).c_str());
            at = nl + 1;
          }
        }
      }
    });
  }
  // logs
  {
    auto c = std::make_shared<Common>();
    auto id = std::make_shared<uint64_t>();
    auto follow = std::make_shared<bool>(false);
    auto worker = std::make_shared<std::optional<int>>();
    auto tail = std::make_shared<int>(-1);
    CLI::App* cmd = app.add_subcommand("logs", "Print a worker's output (stdout and stderr)");
    cmd->add_option("id", *id, "job id")->required();
    cmd->add_flag("-f,--follow", *follow, "keep printing until the job ends");
    cmd->add_option("--worker", *worker, "worker (default: the job's first current worker, else the last to fail)");
    cmd->add_option("--tail", *tail, "only the last N lines");
    cmd->add_flag("--insecure", c->insecure, "do not verify the server's TLS certificate");
    cmd->callback([=, &exit_code]() {
      std::string q = "/api/v1/jobs/" + std::to_string(*id) + "/logs?";
      if (*worker) q += "worker=" + std::to_string(**worker) + "&";
      if (*follow) q += "follow=1&";
      if (*tail >= 0) q += "tail=" + std::to_string(*tail);
      Reply r = c->client().Stream(q, [](const char* d, size_t n) {
        std::fwrite(d, 1, n, stdout);
        std::fflush(stdout);
        return true;
      });
      exit_code = Report("logs", r);
    });
  }
  // cancel
  {
    auto c = std::make_shared<Common>();
    auto id = std::make_shared<uint64_t>();
    CLI::App* cmd = app.add_subcommand("cancel", "Cancel a job (its workers get SIGTERM, then SIGKILL)");
    cmd->add_option("id", *id, "job id")->required();
    AddOutput(cmd, *c);
    cmd->callback([=, &exit_code]() {
      Reply r = c->client().Post("/api/v1/jobs/" + std::to_string(*id) + "/cancel", "{}");
      exit_code = Report("cancel", r);
      if (exit_code != kOk) return;
      if (c->as_json()) c->Print(r.json);
      else std::cout << "job " << *id << " cancelled\n";
    });
  }
  // update: priority and worker bounds
  {
    auto c = std::make_shared<Common>();
    auto id = std::make_shared<uint64_t>();
    auto priority = std::make_shared<std::optional<int>>();
    auto workers = std::make_shared<std::string>();
    CLI::App* cmd = app.add_subcommand("update", "Change a job's priority or its worker bounds");
    cmd->add_option("id", *id, "job id")->required();
    cmd->add_option("--priority", *priority, "new priority (larger runs first in its consumer)");
    cmd->add_option("--workers", *workers, "new bounds MIN:MAX (or N for a rigid job)");
    AddOutput(cmd, *c);
    cmd->callback([=, &exit_code]() {
      json body = json::object();
      if (*priority) body["priority"] = **priority;
      if (!workers->empty()) {
        int lo = 0, hi = 0;
        char tail = 0;
        int n = std::sscanf(workers->c_str(), "%d:%d%c", &lo, &hi, &tail);
        if (n == 1) hi = lo;
        if (n < 1 || n > 2 || lo < 1 || hi < lo) {
          std::cerr << "drover update: --workers must be MIN:MAX with 1 <= MIN <= MAX, or N; got '" << *workers << "'\n";
          exit_code = kBadInput;
          return;
        }
        body["workers"] = {{"min", lo}, {"max", hi}};
      }
      if (body.empty()) {
        std::cerr << "drover update: nothing to change; give --priority and/or --workers\n";
        exit_code = kBadInput;
        return;
      }
      Reply r = c->client().Patch("/api/v1/jobs/" + std::to_string(*id), body.dump());
      if ((exit_code = Report("update", r)) == kOk) std::cout << "job " << *id << " updated\n";
    });
  }
  // hosts
  {
    auto c = std::make_shared<Common>();
    CLI::App* cmd = app.add_subcommand("hosts", "List hosts and their GPUs");
    AddOutput(cmd, *c);
    cmd->callback([=, &exit_code]() {
      Reply r = c->client().Get("/api/v1/hosts");
      if ((exit_code = Report("hosts", r)) != kOk) return;
      if (c->as_json()) {
        c->Print(r.json);
        return;
      }
      std::printf("%-16s %-12s %9s %6s %10s %10s\n", "HOST", "STATE", "GPUS_USED", "CPUS", "MEMORY_MIB", "LAST_SEEN");
      for (const json& h : r.json["hosts"]) {
        std::string used = std::to_string(h["gpus_used"].get<int64_t>()) + "/" +
                           std::to_string(h["capacity"]["gpus"].get<int64_t>());
        std::string state = h["state"].get<std::string>() + (h.value("drained", false) ? ",drained" : "") +
                            (h.contains("in_doubt") && h["in_doubt"].is_string() ? ",in-doubt" : "");
        std::printf("%-16s %-12s %9s %6lld %10lld %10s\n", h["name"].get<std::string>().c_str(), state.c_str(),
                    used.c_str(),
                    static_cast<long long>(h["capacity"]["cpu_millis"].get<int64_t>() / 1000),
                    static_cast<long long>(h["capacity"]["memory_mib"].get<int64_t>()),
                    (Age(h["last_seen"]) + " ago").c_str());
      }
    });
  }
  // host drain / uncordon / revoke / admit
  {
    CLI::App* host = app.add_subcommand("host", "Host maintenance and credentials (admins)");
    host->require_subcommand(1);
    struct Verb {
      const char* name;
      const char* help;
      const char* done;
    };
    for (const Verb& v : {Verb{"drain", "Move work off a host and give it none until uncordoned",
                               " drained: its work moves elsewhere"},
                          Verb{"uncordon", "Let a drained host take work again", " takes work again"},
                          Verb{"revoke", "Revoke a host's credential: its agent is refused and its work moves; "
                                         "no agent may register under its name until admitted",
                               " revoked: its agent's token no longer works and its work moves elsewhere"},
                          Verb{"admit", "Let an agent register under a revoked host's name again",
                               " admitted: an agent may register under its name again"}}) {
      auto c = std::make_shared<Common>();
      auto name = std::make_shared<std::string>();
      CLI::App* cmd = host->add_subcommand(v.name, v.help);
      cmd->add_option("name", *name, "host name")->required();
      cmd->add_flag("--insecure", c->insecure, "do not verify the server's TLS certificate");
      cmd->callback([=, &exit_code]() {
        Reply r = c->client().Post("/api/v1/hosts/" + *name + "/" + v.name, "{}");
        if ((exit_code = Report(std::string("host ") + v.name, r)) == kOk) std::cout << "host " << *name << v.done << "\n";
      });
    }
  }
  // join-token rotate
  {
    auto c = std::make_shared<Common>();
    CLI::App* jt = app.add_subcommand("join-token", "The token agents join with (admins)");
    jt->require_subcommand(1);
    CLI::App* cmd = jt->add_subcommand("rotate", "Issue a new join token; the old one stops working at once "
                                                 "(registered hosts keep their own credentials)");
    cmd->add_flag("--insecure", c->insecure, "do not verify the server's TLS certificate");
    cmd->callback([=, &exit_code]() {
      Reply r = c->client().Post("/api/v1/join-token/rotate", "{}");
      if ((exit_code = Report("join-token rotate", r)) != kOk) return;
      std::cout << r.json["token"].get<std::string>() << "\n";
      if (r.json["file"].is_string()) {
        std::cerr << "written to " << r.json["file"].get<std::string>() << " on the server's host; the previous "
                  << "join token no longer registers agents\n";
      }
    });
  }
  // consumers
  {
    auto c = std::make_shared<Common>();
    CLI::App* cmd = app.add_subcommand("consumers", "The consumer tree with live GPU usage");
    AddOutput(cmd, *c);
    cmd->callback([=, &exit_code]() {
      Reply r = c->client().Get("/api/v1/consumers");
      if ((exit_code = Report("consumers", r)) != kOk) return;
      if (c->as_json()) {
        c->Print(r.json);
        return;
      }
      std::printf("%-28s %5s %5s %8s %9s %8s %5s %7s\n", "CONSUMER", "OWNED", "SHARE", "ENTITLED", "ALLOCATED",
                  "BORROWED", "LENT", "PENDING");
      for (const json& n : r.json["consumers"]) {
        std::string path = n["path"];
        int depth = path == "/" ? 0 : static_cast<int>(std::count(path.begin(), path.end(), '/'));
        std::string label = std::string(2 * std::max(0, depth - 1), ' ') + path;
        std::printf("%-28s %5lld %5g %8lld %9lld %8lld %5lld %7lld\n", label.c_str(),
                    static_cast<long long>(n["owned"].get<int64_t>()), n["share"].get<double>(),
                    static_cast<long long>(n["entitlement"].get<int64_t>()),
                    static_cast<long long>(n["allocated"].get<int64_t>()),
                    static_cast<long long>(n["borrowed"].get<int64_t>()), static_cast<long long>(n["lent"].get<int64_t>()),
                    static_cast<long long>(n["pending"].get<int64_t>()));
      }
      // Guarantees the hosts cannot keep: the top-level consumers own more than the root (the GPUs up).
      int64_t cluster = 0, owned = 0;
      for (const json& n : r.json["consumers"]) {
        std::string path = n["path"];
        if (path == "/") cluster = n["owned"].get<int64_t>();
        else if (std::count(path.begin(), path.end(), '/') == 1) owned += n["owned"].get<int64_t>();
      }
      if (owned > cluster) {
        std::printf("\nwarning: the consumers own %lld GPUs but the hosts that are up have %lld: guarantees above "
                    "that cannot be kept\n",
                    static_cast<long long>(owned), static_cast<long long>(cluster));
      }
    });
  }
  // plan apply (plan check lives in plan_command.cc)
  {
    auto c = std::make_shared<Common>();
    auto file = std::make_shared<std::string>();
    CLI::App* plan = app.get_subcommand("plan");
    CLI::App* cmd = plan->add_subcommand("apply", "Replace the server's consumer plan (admins)");
    cmd->add_option("-f,--file", *file, "plan YAML")->required();
    cmd->add_flag("--insecure", c->insecure, "do not verify the server's TLS certificate");
    cmd->callback([=, &exit_code]() {
      std::string err;
      std::string yaml = ReadFile(*file, &err);
      if (!err.empty()) {
        std::cerr << "drover plan apply: " << err << "\n";
        exit_code = kBadInput;
        return;
      }
      Reply r = c->client().Put("/api/v1/plan?" + FileParam(*file), yaml, "application/yaml");
      if ((exit_code = Report("plan apply", r)) == kOk) {
        std::cout << "plan applied: " << r.json["consumers"].get<int>() << " consumers\n";
        for (const json& w : r.json.value("warnings", json::array())) {
          std::cerr << "warning: " << w.get<std::string>() << "\n";
        }
      }
    });
  }
  // plan show
  {
    auto c = std::make_shared<Common>();
    CLI::App* cmd = app.get_subcommand("plan")->add_subcommand("show", "Print the plan the server has (its YAML)");
    cmd->add_flag("--insecure", c->insecure, "do not verify the server's TLS certificate");
    cmd->callback([=, &exit_code]() {
      Reply r = c->client().Get("/api/v1/plan");
      if ((exit_code = Report("plan show", r)) == kOk) std::cout << r.json["yaml"].get<std::string>();
    });
  }
  // token list / create / revoke
  {
    auto c = std::make_shared<Common>();
    auto revoke = std::make_shared<std::string>();
    CLI::App* token = app.add_subcommand("token", "Your API tokens");
    token->require_subcommand(1);
    CLI::App* list = token->add_subcommand("list", "Your tokens, by id (the tokens themselves are never shown again)");
    AddOutput(list, *c);
    list->callback([=, &exit_code]() {
      Reply r = c->client().Get("/api/v1/tokens");
      if ((exit_code = Report("token list", r)) != kOk) return;
      if (c->as_json()) {
        c->Print(r.json);
        return;
      }
      std::printf("%-14s %s\n", "ID", "CREATED");
      for (const json& t : r.json["tokens"]) {
        std::printf("%-14s %s ago\n", t["id"].get<std::string>().c_str(), Age(t["created"]).c_str());
      }
    });
    CLI::App* create = token->add_subcommand("create", "Create another token for yourself (shown once)");
    AddOutput(create, *c);
    create->callback([=, &exit_code]() {
      Reply r = c->client().Post("/api/v1/tokens", "{}");
      if ((exit_code = Report("token create", r)) != kOk) return;
      if (c->as_json()) c->Print(r.json);
      else std::cout << "token (shown once): " << r.json["token"].get<std::string>() << "\n";
    });
    CLI::App* rev = token->add_subcommand("revoke", "Revoke a token (yours; admins: anyone's)");
    rev->add_option("token", *revoke, "the token to revoke")->required();
    rev->callback([=, &exit_code]() {
      Reply r = c->client().Post("/api/v1/tokens/revoke", json{{"token", *revoke}}.dump());
      if ((exit_code = Report("token revoke", r)) == kOk) std::cout << "token revoked\n";
    });
  }
  // user create
  {
    auto c = std::make_shared<Common>();
    auto name = std::make_shared<std::string>();
    auto role = std::make_shared<std::string>("user");
    auto consumers = std::make_shared<std::vector<std::string>>();
    CLI::App* user = app.add_subcommand("user", "Manage users (admins)");
    user->require_subcommand(1);
    CLI::App* cmd = user->add_subcommand("create", "Create a user and print their token (shown once)");
    cmd->add_option("name", *name, "user name")->required();
    cmd->add_option("--consumer", *consumers, "consumer subtree the user may use (repeatable)");
    cmd->add_option("--role", *role, "user or admin")->check(CLI::IsMember({"user", "admin"}));
    AddOutput(cmd, *c);
    cmd->callback([=, &exit_code]() {
      json body = {{"name", *name}, {"role", *role}, {"consumers", *consumers}};
      Reply r = c->client().Post("/api/v1/users", body.dump());
      if ((exit_code = Report("user create", r)) != kOk) return;
      if (c->as_json()) c->Print(r.json);
      else std::cout << "user " << *name << " created; token (shown once): " << r.json["token"].get<std::string>() << "\n";
    });
    auto gone = std::make_shared<std::string>();
    CLI::App* del = user->add_subcommand("delete", "Delete a user and revoke their tokens (their jobs stay)");
    del->add_option("name", *gone, "user name")->required();
    del->callback([=, &exit_code]() {
      Reply r = c->client().Delete("/api/v1/users/" + PercentEncode(*gone));
      if ((exit_code = Report("user delete", r)) == kOk) std::cout << "user " << *gone << " deleted\n";
    });
  }
  // users
  {
    auto c = std::make_shared<Common>();
    CLI::App* cmd = app.add_subcommand("users", "List users (admins)");
    AddOutput(cmd, *c);
    cmd->callback([=, &exit_code]() {
      Reply r = c->client().Get("/api/v1/users");
      if ((exit_code = Report("users", r)) != kOk) return;
      if (c->as_json()) {
        c->Print(r.json);
        return;
      }
      std::printf("%-20s %-6s %6s  %s\n", "USER", "ROLE", "TOKENS", "CONSUMERS");
      for (const json& u : r.json["users"]) {
        std::string consumers;
        for (const json& p : u["consumers"]) consumers += (consumers.empty() ? "" : ", ") + p.get<std::string>();
        std::printf("%-20s %-6s %6d  %s\n", u["name"].get<std::string>().c_str(), u["role"].get<std::string>().c_str(),
                    u["tokens"].get<int>(), consumers.c_str());
      }
    });
  }
  // whoami, logout
  {
    auto c = std::make_shared<Common>();
    CLI::App* cmd = app.add_subcommand("whoami", "Who the remembered token is, on which server");
    AddOutput(cmd, *c);
    cmd->callback([=, &exit_code]() {
      Client client = c->client();
      Reply r = client.Get("/api/v1/whoami");
      if ((exit_code = Report("whoami", r)) != kOk) return;
      if (c->as_json()) {
        c->Print(r.json);
        return;
      }
      std::string consumers;
      for (const json& p : r.json["consumers"]) consumers += (consumers.empty() ? "" : ", ") + p.get<std::string>();
      std::cout << r.json["name"].get<std::string>() << " (" << r.json["role"].get<std::string>() << ")"
                << (consumers.empty() ? "" : " in " + consumers) << "\n";
    });
    CLI::App* out = app.add_subcommand("logout", "Forget the remembered server and token");
    out->callback([&exit_code]() {
      std::string err = ForgetClientConfig();
      if (!err.empty()) {
        std::cerr << "drover logout: " << err << "\n";
        exit_code = kServerError;
        return;
      }
      std::cout << "logged out\n";
    });
  }
}

}  // namespace drover::cli

// Scale benchmark: a real `drover server` on 127.0.0.1 with N simulated
// agents and N membership watchers speaking the real protocol, measured from
// outside over HTTP. Bounded in time: every wait has a deadline.
//
//   scale_bench [--binary PATH] [--agents 100,1000] [--sync-wait-ms 1000]
//
// For each N: N fake agents (2 GPU slots each) register and long-poll their
// sync, reporting the workers they are given as running; N/4 elastic jobs of
// 4 workers fill half the slots, and each of their N workers gets a watcher
// that long-polls the job's membership with the worker's own token (as the
// elastic runtime does). Then, while all of that is connected:
//   - GET p50/p99: 300 sequential `GET /api/v1/jobs/{id}` by an admin;
//   - submit -> start p50: 30 sequential one-worker jobs, from just before
//     the POST until a fake agent's sync answer carries the new worker.
// Then one tenant abuses the API (idle and trickling connections, long polls;
// tests/e2e/abuse.h) while another's GETs are timed.
// A run that cannot get that far (the server stops answering) says so, with
// how far it got. Point --binary at another build to compare servers.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "tests/e2e/abuse.h"
#include "tests/e2e/cluster.h"

namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

double Pct(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))];
}

struct Shared {
  std::string url, join;
  int sync_wait_ms = 1000;
  std::atomic<bool> stop{false};
  std::atomic<int> registered{0}, sync_errors{0}, watch_errors{0}, watchers{0};
  std::mutex mu;
  std::map<uint64_t, Clock::time_point> first_seen;  // job -> when an agent was first told to run it
  std::set<std::pair<uint64_t, int>> watched;
};

std::unique_ptr<httplib::Client> NewClient(const std::string& url, int read_timeout_s) {
  auto c = std::make_unique<httplib::Client>(url);
  c->set_keep_alive(true);
  c->set_tcp_nodelay(true);
  c->set_connection_timeout(5);
  c->set_read_timeout(read_timeout_s, 0);
  c->set_write_timeout(5, 0);
  return c;
}

// A worker's elastic runtime, as far as the server can tell: a membership long poll, again and again.
void Watch(Shared& s, uint64_t job, std::string token) {
  auto c = NewClient(s.url, 20);
  c->set_bearer_token_auth(token);
  int64_t generation = 0;
  ++s.watchers;
  while (!s.stop) {
    auto r = c->Get("/api/v1/jobs/" + std::to_string(job) + "/members?after=" + std::to_string(generation) +
                    "&wait_ms=10000");
    if (!r || r->status != 200) {
      ++s.watch_errors;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      continue;
    }
    json m = json::parse(r->body, nullptr, false);
    if (m.is_object()) generation = m.value("generation", generation);
    if (m.value("state", "") == "CANCELLED") break;
  }
  --s.watchers;
}

// An agent: registers, then syncs (long poll) reporting what it was told to run as running.
void Agent(Shared& s, int index, std::vector<std::thread>* watchers, std::mutex* watchers_mu) {
  auto c = NewClient(s.url, s.sync_wait_ms / 1000 + 20);
  const std::string name = "fake-" + std::to_string(index);
  std::string token;
  for (int attempt = 0; attempt < 50 && !s.stop && token.empty(); ++attempt) {
    c->set_bearer_token_auth(s.join);
    auto r = c->Post("/api/v1/agent/register",
                     json{{"name", name}, {"gpu_slots", 2}, {"cpus", 64}, {"memory_mib", 262144}}.dump(),
                     "application/json");
    if (r && r->status == 200) {
      token = json::parse(r->body).value("agent_token", "");
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
  if (token.empty()) return;
  ++s.registered;
  c->set_bearer_token_auth(token);
  json running = json::array();
  int pid = 100000 + index * 100;
  while (!s.stop) {
    json req = {{"host", name}, {"wait_ms", s.sync_wait_ms}, {"workers", running}, {"logs", json::array()}};
    auto r = c->Post("/api/v1/agent/sync", req.dump(), "application/json");
    if (!r || r->status != 200) {
      ++s.sync_errors;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      continue;
    }
    json answer = json::parse(r->body, nullptr, false);
    if (!answer.is_object()) continue;
    json now = json::array();
    for (const json& w : answer["workers"]) {
      uint64_t job = w["job"];
      int rank = w["rank"];
      int p = 0;
      for (const json& had : running) {
        if (had["job"] == job && had["rank"] == rank && had["generation"] == w["generation"]) p = had["pid"];
      }
      now.push_back({{"job", job}, {"rank", rank}, {"generation", w["generation"]}, {"pid", p ? p : ++pid},
                     {"state", "running"}});
      std::lock_guard<std::mutex> lock(s.mu);
      s.first_seen.emplace(job, Clock::now());
      const std::string& tok = w["env"].value("DROVER_TOKEN", "");
      if (w["env"].value("DROVER_BENCH_WATCH", "") == "1" && s.watched.insert({job, rank}).second) {
        std::lock_guard<std::mutex> wl(*watchers_mu);
        watchers->emplace_back(Watch, std::ref(s), job, tok);
      }
    }
    running = now;
  }
}

struct Row {
  int agents = 0;
  int registered = 0, watchers = 0;
  std::string note;
  double get_p50 = -1, get_p99 = -1, start_p50 = -1;
  int get_failed = 0, sync_errors = 0, watch_errors = 0;
};

Row RunOne(const std::string& binary, const std::string& dir, int agents, int sync_wait_ms) {
  Row row;
  row.agents = agents;
  drover::e2e::LocalCluster cluster(binary, dir);
  if (!cluster.Start(0, 0, /*heartbeat_timeout=*/60)) {
    row.note = "server did not start";
    return row;
  }
  Shared s;
  s.url = cluster.url();
  s.join = cluster.join_token();
  s.sync_wait_ms = sync_wait_ms;
  std::vector<std::thread> agent_threads, watcher_threads;
  std::mutex watchers_mu;
  auto t0 = Clock::now();
  for (int i = 0; i < agents; ++i) agent_threads.emplace_back(Agent, std::ref(s), i, &watcher_threads, &watchers_mu);
  while (s.registered < agents && Seconds(t0) < 60) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  row.registered = s.registered;
  auto admin = NewClient(s.url, 10);
  admin->set_bearer_token_auth(cluster.admin_token());
  auto finish = [&] {
    row.sync_errors = s.sync_errors;  // before the server is stopped, which fails every call
    row.watch_errors = s.watch_errors;
    s.stop = true;
    cluster.KillServer(SIGKILL);  // every long poll ends now
    for (auto& t : agent_threads) t.join();
    std::lock_guard<std::mutex> l(watchers_mu);
    for (auto& t : watcher_threads) t.join();
  };
  if (row.registered < agents) {
    row.note = "only " + std::to_string(row.registered) + " agents registered in 60 s";
    finish();
    return row;
  }
  // N/4 jobs of 4 workers, each worker watched.
  const int jobs = agents / 4;
  for (int j = 0; j < jobs; ++j) {
    auto r = admin->Post("/api/v1/jobs",
                         "name: fill-" + std::to_string(j) +
                             "\nworkers: {min: 4, max: 4}\nenv: {DROVER_BENCH_WATCH: \"1\"}\ncommand: [\"sleep\", \"1000\"]\n",
                         "application/yaml");
    if (!r || r->status != 201) {
      row.note = "submitting the jobs failed at job " + std::to_string(j);
      finish();
      return row;
    }
  }
  t0 = Clock::now();
  while (s.watchers < jobs * 4 && Seconds(t0) < 120) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  row.watchers = s.watchers;
  if (row.watchers < jobs * 4) row.note = "only " + std::to_string(row.watchers) + " watchers connected in 120 s; ";
  // GETs while all of that is connected.
  std::vector<double> get_ms;
  for (int i = 0; i < 300; ++i) {
    auto g0 = Clock::now();
    auto r = admin->Get("/api/v1/jobs/1");
    if (!r || r->status != 200) {
      ++row.get_failed;
      if (row.get_failed >= 3) break;  // timed out: the server is not answering
      continue;
    }
    get_ms.push_back(Seconds(g0) * 1000);
  }
  row.get_p50 = Pct(get_ms, 0.5);
  row.get_p99 = Pct(get_ms, 0.99);
  // Submit -> an agent is told to start it.
  std::vector<double> start_ms;
  for (int i = 0; i < 30 && row.get_failed < 3; ++i) {
    auto s0 = Clock::now();
    auto r = admin->Post("/api/v1/jobs", "name: probe-" + std::to_string(i) + "\nworkers: 1\ncommand: [\"sleep\", \"1000\"]\n",
                         "application/yaml");
    if (!r || r->status != 201) break;
    uint64_t id = json::parse(r->body).value("id", uint64_t{0});
    bool seen = false;
    while (!seen && Seconds(s0) < 10) {
      {
        std::lock_guard<std::mutex> lock(s.mu);
        auto it = s.first_seen.find(id);
        if (it != s.first_seen.end()) {
          start_ms.push_back(std::chrono::duration<double>(it->second - s0).count() * 1000);
          seen = true;
        }
      }
      if (!seen) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    admin->Post("/api/v1/jobs/" + std::to_string(id) + "/cancel", "{}", "application/json");  // its slot, for the next
  }
  row.start_p50 = Pct(start_ms, 0.5);
  if (start_ms.size() < 30) row.note += std::to_string(start_ms.size()) + " of 30 probes started";
  finish();
  return row;
}

std::vector<int> ParseList(const std::string& text) {
  std::vector<int> out;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) out.push_back(std::stoi(item));
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::string binary = DROVER_BINARY;
  std::vector<int> sizes = {100, 1000};
  int sync_wait_ms = 1000;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--binary") binary = argv[i + 1];
    else if (flag == "--agents") sizes = ParseList(argv[i + 1]);
    else if (flag == "--sync-wait-ms") sync_wait_ms = std::stoi(argv[i + 1]);
  }
  // Each agent and watcher holds a connection: lift the descriptor limit as far as allowed.
  rlimit nofile{};
  if (getrlimit(RLIMIT_NOFILE, &nofile) == 0) {
    nofile.rlim_cur = nofile.rlim_max;
    setrlimit(RLIMIT_NOFILE, &nofile);
  }
  std::string base = std::filesystem::temp_directory_path() / ("drover-scale-bench-" + std::to_string(getpid()));
  std::printf("drover scale benchmark: %s, agents sync with wait_ms=%d, each of N/4 jobs has 4 watched workers\n",
              binary.c_str(), sync_wait_ms);
  std::printf("%7s %9s %9s %12s %12s %16s %8s  %s\n", "agents", "connected", "watchers", "GET p50 ms", "GET p99 ms",
              "submit->start p50", "errors", "note");
  for (int n : sizes) {
    Row r = RunOne(binary, base + "/" + std::to_string(n), n, sync_wait_ms);
    std::printf("%7d %9d %9d %12.1f %12.1f %14.1f ms %8d  %s\n", r.agents, r.registered, r.watchers, r.get_p50,
                r.get_p99, r.start_p50, r.get_failed + r.sync_errors + r.watch_errors, r.note.c_str());
    std::fflush(stdout);
  }
  // One tenant abusing the API while another uses it.
  {
    drover::e2e::LocalCluster cluster(binary, base + "/abuse");
    if (cluster.Start(0, 0)) {
      drover::e2e::AbuseOptions opt;
      drover::e2e::AbuseResult a = drover::e2e::RunAbuse(cluster, opt);
      std::printf("\none user holds %d idle + %d trickling connections (%d accepted) and asks for %d long polls "
                  "(%d parked, %d refused with 429);\nanother user's GET /api/v1/jobs meanwhile: p50 %.1f ms, "
                  "p99 %.1f ms, %d of %d failed (5 s timeout)\n",
                  opt.idle, opt.trickling, a.connections_held, opt.long_polls, a.polls_parked, a.polls_refused,
                  Pct(a.get_ms, 0.5), Pct(a.get_ms, 0.99), a.gets_failed, opt.gets);
    } else {
      std::printf("\nabuse: the server did not start\n");
    }
  }
  std::filesystem::remove_all(base);
  return 0;
}

// Platform benchmark, one command: a real `drover server` (and one agent)
// on 127.0.0.1, measured from outside over HTTP.
//   1. Acknowledged durable submissions per second from 8 concurrent clients
//      (each answer comes after the job is committed to SQLite).
//   2. Submit-to-worker-started latency on an idle cluster: from just before
//      the POST until the worker process itself reads the clock.
// Peers, for scale (not run here): Kubernetes' SLO is pod start p99 <= 5 s.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include <httplib.h>

#include "tests/e2e/cluster.h"

namespace {

using Clock = std::chrono::system_clock;

double Now() { return std::chrono::duration<double>(Clock::now().time_since_epoch()).count(); }

double Pct(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))];
}

}  // namespace

int main(int argc, char** argv) {
  std::string binary = argc > 1 ? argv[1] : DROVER_BINARY;
  std::string base = std::filesystem::temp_directory_path() / ("drover-platform-bench-" + std::to_string(getpid()));
  const int kClients = 8;
  const double kSeconds = 5;

  // 1. Throughput: no agent, so nothing but the API, the store and the scheduler works.
  double rate = 0;
  int failures = 0;
  {
    drover::e2e::LocalCluster cluster(binary, base + "/throughput");
    if (!cluster.Start(0, 0)) {
      std::fprintf(stderr, "platform_bench: the server did not start; see %s\n", cluster.dir().c_str());
      return 1;
    }
    std::atomic<int> ok{0}, bad{0};
    double end = Now() + kSeconds;
    std::vector<std::thread> threads;
    for (int t = 0; t < kClients; ++t) {
      threads.emplace_back([&, t] {
        httplib::Client c(cluster.url());
        c.set_bearer_token_auth(cluster.admin_token());
        c.set_keep_alive(true);
        c.set_tcp_nodelay(true);
        std::string spec = "name: bench-" + std::to_string(t) + "\nworkers: 1\ncommand: [\"true\"]\n";
        while (Now() < end) {
          auto r = c.Post("/api/v1/jobs", spec, "application/yaml");
          (r && r->status == 201 ? ok : bad)++;
        }
      });
    }
    double t0 = Now();
    for (auto& th : threads) th.join();
    rate = ok / (Now() - t0);
    failures = bad;
    // Everything acknowledged is there.
    auto r = cluster.Call("GET", "/api/v1/jobs?limit=1&after=" + std::to_string(ok.load() - 1));
    if (r.json["jobs"].size() != 1) std::fprintf(stderr, "platform_bench: job %d missing after the run\n", ok.load());
  }

  // 2. Latency: one agent, sequential jobs whose worker writes the time it started.
  std::vector<double> latency_ms;
  {
    drover::e2e::LocalCluster cluster(binary, base + "/latency");
    if (!cluster.Start(1, 4)) {
      std::fprintf(stderr, "platform_bench: the cluster did not start; see %s\n", cluster.dir().c_str());
      return 1;
    }
    std::string marks = cluster.dir() + "/marks";
    std::filesystem::create_directories(marks);
    for (int i = 0; i < 60; ++i) {
      std::string mark = marks + "/" + std::to_string(i);
      std::string spec = "name: lat\nresources: {gpus: 1, cpus: 0.1, memory: 64Mi}\n"
                         "command: [\"/bin/sh\", \"-c\", \"date +%s.%N > " + mark + ".tmp && mv " + mark + ".tmp " +
                         mark + "\"]\n";
      double t0 = Now();
      uint64_t id = cluster.Submit(spec);
      if (!id) {
        std::fprintf(stderr, "platform_bench: submit failed\n");
        return 1;
      }
      bool started = drover::e2e::LocalCluster::WaitFor([&] { return std::filesystem::exists(mark); }, 10);
      if (!started) {
        std::fprintf(stderr, "platform_bench: job %llu's worker never started\n", static_cast<unsigned long long>(id));
        return 1;
      }
      double t1 = 0;
      std::ifstream(mark) >> t1;
      if (i >= 10) latency_ms.push_back((t1 - t0) * 1000);  // the first ones warm caches
      cluster.WaitState(id, "SUCCEEDED", 10);
    }
  }
  std::filesystem::remove_all(base);

  std::printf("drover platform benchmark (server + SQLite WAL store on this machine, %u cores)\n",
              std::thread::hardware_concurrency());
  std::printf("  %-52s %10.0f /s   (target >= 1000/s; %d failed)\n",
              "acknowledged durable submissions, 8 clients", rate, failures);
  std::printf("  %-52s %10.1f ms   (target <= 100 ms)\n", "submit -> worker started, p50", Pct(latency_ms, 0.5));
  std::printf("  %-52s %10.1f ms   (Kubernetes SLO: pod start p99 <= 5000 ms)\n", "submit -> worker started, p99",
              Pct(latency_ms, 0.99));
  return 0;
}

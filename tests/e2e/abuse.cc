#include "tests/e2e/abuse.h"

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include <httplib.h>
#include <nlohmann/json.hpp>

namespace drover::e2e {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

}  // namespace

AbuseResult RunAbuse(LocalCluster& cluster, const AbuseOptions& options) {
  AbuseResult out;
  cluster.Call("PUT", "/api/v1/plan", "consumers:\n  - name: a\n  - name: b\n");
  std::string alice = cluster.Call("POST", "/api/v1/users", R"({"name":"alice","consumers":["/a"]})").json["token"];
  std::string bob = cluster.Call("POST", "/api/v1/users", R"({"name":"bob","consumers":["/b"]})").json["token"];
  uint64_t job = cluster.Submit("name: bait\nconsumer: /a\ncommand: [\"sleep\", \"300\"]\n", alice);

  std::vector<int> fds;
  for (int i = 0; i < options.idle + options.trickling; ++i) {
    int fd = ConnectLoopback(cluster.port());
    if (fd >= 0) fds.push_back(fd);
  }
  out.connections_held = static_cast<int>(fds.size());
  std::atomic<bool> stop{false};
  // The trickling ones: a request line, then a header line every 2 s, never the blank line.
  std::thread trickle([&] {
    std::string line = "GET /api/v1/jobs HTTP/1.1\r\nHost: x\r\n";
    for (int round = 0; !stop; ++round) {
      for (size_t i = options.idle; i < fds.size(); ++i) {
        (void)!send(fds[i], line.data(), line.size(), MSG_NOSIGNAL);
      }
      line = "X-Slow-" + std::to_string(round) + ": y\r\n";
      for (int k = 0; k < 20 && !stop; ++k) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  // The long polls: each on its own connection.
  std::atomic<int> answered{0}, refused{0}, failed{0};
  std::vector<std::thread> polls;
  for (int i = 0; i < options.long_polls; ++i) {
    polls.emplace_back([&] {
      httplib::Client c(cluster.url());
      c.set_bearer_token_auth(alice);
      c.set_read_timeout(70, 0);
      auto r = c.Get("/api/v1/jobs/" + std::to_string(job) + "/members?after=999999&wait_ms=60000");
      ++(!r ? failed : r->status == 429 ? refused : answered);
    });
  }
  // Every poll arrives before the other user starts: those over the cap are
  // answered at once, the rest are parked until the job ends (below).
  auto t0 = Clock::now();
  while (refused + failed < options.long_polls - 64 && Clock::now() - t0 < std::chrono::seconds(20)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  // The other user, meanwhile.
  httplib::Client c(cluster.url());
  c.set_bearer_token_auth(bob);
  c.set_keep_alive(true);
  c.set_read_timeout(5, 0);
  for (int i = 0; i < options.gets; ++i) {
    auto g0 = Clock::now();
    auto r = c.Get("/api/v1/jobs");
    if (!r || r->status != 200) {
      if (++out.gets_failed >= 3) break;  // starved: 3 timeouts say enough
      continue;
    }
    out.get_ms.push_back(std::chrono::duration<double>(Clock::now() - g0).count() * 1000);
  }
  // End the abuse: the job's end answers every parked poll.
  stop = true;
  trickle.join();
  for (int fd : fds) close(fd);
  cluster.Call("POST", "/api/v1/jobs/" + std::to_string(job) + "/cancel", "{}");
  for (auto& t : polls) t.join();
  out.polls_refused = refused;
  out.polls_parked = answered;  // held until the job ended
  out.polls_failed = failed;
  return out;
}

}  // namespace drover::e2e

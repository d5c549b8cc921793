#include "agent/agent.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <thread>

#include "agent/fake_launcher.h"
#include "agent/fake_server_client.h"
#include "agent/process_launcher.h"
#include "agent/test_dir.h"

namespace drover::agent {
namespace {

using namespace std::chrono_literals;
using std::chrono::milliseconds;

DesiredWorker Want(uint64_t job, int rank, uint64_t generation,
                   std::vector<std::string> argv = {"python3"}) {
  return DesiredWorker{{job, rank, generation}, std::move(argv), {}, {}};
}

Status Unreachable() {
  return {StatusCode::kUnavailable, "sync: http://127.0.0.1:8080: cannot connect"};
}

AgentOptions Options(const std::filesystem::path& work_dir) {
  AgentOptions o;
  o.name = "host-a";
  o.join_token = "join-secret";
  o.work_dir = work_dir;
  o.inventory.gpu_slots = 4;
  o.inventory.cpus = 16;
  o.inventory.memory_mib = 131072;
  o.server = "http://127.0.0.1:8080";
  o.backoff_jitter = 0;  // exact delays: 250, 500, 1000, ...
  o.min_sync_interval = 0ms;
  return o;
}

milliseconds StepOk(Agent& agent) {
  auto delay = agent.Step();
  EXPECT_TRUE(delay.ok()) << delay.status().ToString();
  return delay.ok() ? *delay : milliseconds(-1);
}

class AgentTest : public testing::Test {
 protected:
  TestDir tmp_;
  FakeServerClient server_;
  FakeLauncher launcher_;
  Agent agent_{Options(tmp_.path()), server_, launcher_};
};

TEST_F(AgentTest, RegistersThenSyncsAndStartsTheDesiredWorkers) {
  server_.desired.workers = {Want(12, 0, 3), Want(12, 1, 3)};
  EXPECT_EQ(StepOk(agent_), 0ms);
  ASSERT_EQ(server_.registrations.size(), 1u);
  EXPECT_EQ(server_.registrations[0].first, "join-secret");
  EXPECT_EQ(server_.registrations[0].second.name, "host-a");
  EXPECT_EQ(server_.registrations[0].second.gpu_slots, 4);
  ASSERT_EQ(server_.syncs.size(), 1u);
  EXPECT_EQ(server_.syncs[0].first, "agent-token-1");
  EXPECT_EQ(server_.last().host, "host-a");
  EXPECT_EQ(server_.last().wait_ms, 1000);
  EXPECT_EQ(launcher_.started.size(), 2u);

  EXPECT_EQ(StepOk(agent_), 0ms);
  EXPECT_EQ(server_.registrations.size(), 1u);
  EXPECT_EQ(server_.last().workers.size(), 2u);
  EXPECT_EQ(launcher_.started.size(), 2u);
}

TEST_F(AgentTest, StopsWorkersTheServerNoLongerWants) {
  server_.desired = SyncResponse{{Want(12, 0, 3), Want(9, 0, 1)}, 10};
  StepOk(agent_);
  server_.desired = SyncResponse{{Want(12, 0, 3)}, 10};
  StepOk(agent_);
  ASSERT_EQ(launcher_.stopped.size(), 1u);
  EXPECT_EQ(launcher_.stopped[0], std::make_pair(100, milliseconds(10s)));  // job 9 started first
}

TEST_F(AgentTest, KeepsWorkersRunningWhileTheServerIsUnreachable) {
  server_.desired.workers = {Want(12, 0, 3)};
  StepOk(agent_);
  for (int i = 0; i < 6; ++i) server_.sync_results.push_back(Unreachable());
  EXPECT_EQ(StepOk(agent_), 250ms);
  EXPECT_EQ(StepOk(agent_), 500ms);
  EXPECT_EQ(StepOk(agent_), 1000ms);
  EXPECT_EQ(StepOk(agent_), 2000ms);
  EXPECT_EQ(StepOk(agent_), 3333ms);  // a third of the 10 s heartbeat timeout
  EXPECT_EQ(StepOk(agent_), 3333ms);
  EXPECT_TRUE(launcher_.stopped.empty());
  EXPECT_EQ(launcher_.live_count(), 1u);

  // The server is back (say, restarted): it sees the worker still running, and adopts it.
  EXPECT_EQ(StepOk(agent_), 0ms);
  ASSERT_EQ(server_.last().workers.size(), 1u);
  EXPECT_EQ(server_.last().workers[0].state, WorkerState::kRunning);
  EXPECT_EQ(server_.registrations.size(), 1u);
  EXPECT_EQ(launcher_.started.size(), 1u);
  // Backoff starts over after a success.
  server_.sync_results.push_back(Unreachable());
  EXPECT_EQ(StepOk(agent_), 250ms);
}

TEST_F(AgentTest, RegistersAgainWhenTheServerForgetsItsToken) {
  server_.desired.workers = {Want(12, 0, 3)};
  StepOk(agent_);
  server_.sync_results.push_back(Status(StatusCode::kUnauthenticated, "sync: HTTP 401"));
  EXPECT_EQ(StepOk(agent_), 0ms);
  EXPECT_FALSE(agent_.registered());
  EXPECT_EQ(StepOk(agent_), 0ms);
  EXPECT_EQ(server_.registrations.size(), 2u);
  EXPECT_EQ(server_.syncs.back().first, "agent-token-2");
  EXPECT_TRUE(launcher_.stopped.empty());
  EXPECT_EQ(server_.last().workers.size(), 1u);

  // Rejected again and again: the agent backs off instead of spinning.
  server_.sync_results.push_back(Status(StatusCode::kUnauthenticated, "sync: HTTP 401"));
  server_.sync_results.push_back(Status(StatusCode::kUnauthenticated, "sync: HTTP 401"));
  EXPECT_EQ(StepOk(agent_), 0ms);
  EXPECT_EQ(StepOk(agent_), 250ms);
}

TEST_F(AgentTest, RegistersAgainWhenTheServerDoesNotKnowTheHost) {
  StepOk(agent_);
  server_.sync_results.push_back(NotFound("sync: HTTP 404: host host-a is not registered"));
  EXPECT_EQ(StepOk(agent_), 0ms);
  EXPECT_FALSE(agent_.registered());
  StepOk(agent_);
  EXPECT_EQ(server_.registrations.size(), 2u);
}

TEST_F(AgentTest, RetriesRegistrationWhileTheServerIsUnreachable) {
  server_.register_results.push_back(Status(StatusCode::kUnavailable, "register: cannot connect"));
  server_.register_results.push_back(Status(StatusCode::kUnavailable, "register: cannot connect"));
  EXPECT_EQ(StepOk(agent_), 250ms);
  EXPECT_EQ(StepOk(agent_), 500ms);
  EXPECT_TRUE(server_.syncs.empty());
  EXPECT_EQ(StepOk(agent_), 0ms);
  EXPECT_TRUE(agent_.registered());
  EXPECT_EQ(server_.syncs.size(), 1u);
}

TEST_F(AgentTest, RejectedJoinTokenIsFatal) {
  server_.register_results.push_back(
      Status(StatusCode::kUnauthenticated, "register: HTTP 401: bad join token"));
  auto delay = agent_.Step();
  ASSERT_FALSE(delay.ok());
  EXPECT_EQ(delay.status().code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(delay.status().message(), "register: HTTP 401: bad join token");
}

TEST_F(AgentTest, ReportsAnExitOnceAndResendsItAfterALostResponse) {
  server_.desired.workers = {Want(12, 0, 3)};
  StepOk(agent_);
  launcher_.Exit(100, 0);
  server_.sync_results.push_back(Unreachable());
  StepOk(agent_);
  ASSERT_EQ(server_.last().workers.size(), 1u);
  EXPECT_EQ(server_.last().workers[0].state, WorkerState::kExited);
  StepOk(agent_);  // the resend, answered
  ASSERT_EQ(server_.last().workers.size(), 1u);
  EXPECT_EQ(server_.last().workers[0].state, WorkerState::kExited);
  StepOk(agent_);
  EXPECT_TRUE(server_.last().workers.empty());
  EXPECT_EQ(launcher_.started.size(), 1u);  // still desired, but that generation is done
}

TEST_F(AgentTest, RunStopsEveryWorkerAndReportsTheExitsWhenAskedToStop) {
  server_.desired = SyncResponse{{Want(12, 0, 3), Want(12, 1, 3)}, 5};
  std::atomic<bool> stop{false};
  server_.on_sync = [&] {
    if (server_.syncs.size() == 3) stop = true;
  };
  Status st = agent_.Run(stop);
  EXPECT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(launcher_.stopped.size(), 2u);
  EXPECT_EQ(launcher_.stopped[0].second, 5s);
  EXPECT_EQ(launcher_.live_count(), 0u);
  // The final sync tells the server at once, without a long poll.
  EXPECT_EQ(server_.last().wait_ms, 0);
  ASSERT_EQ(server_.last().workers.size(), 2u);
  EXPECT_EQ(server_.last().workers[0].state, WorkerState::kExited);
}

TEST_F(AgentTest, RunReturnsTheFatalError) {
  server_.register_results.push_back(
      InvalidArgument("register: HTTP 400: name: expected a non-empty string"));
  std::atomic<bool> stop{false};
  EXPECT_EQ(agent_.Run(stop).code(), StatusCode::kInvalidArgument);
}

// With real processes: output and exit reach the server; a worker outlives an outage.
TEST(AgentProcessTest, RunsAWorkerAndShipsItsOutputAndExit) {
  TestDir tmp;
  FakeServerClient server;
  ProcessLauncher launcher;
  Agent agent(Options(tmp.path()), server, launcher);
  server.desired.workers = {Want(12, 0, 3, {"/bin/sh", "-c", "echo hello; echo oops >&2; exit 3"})};

  std::string output;
  const WorkerReport* exited = nullptr;
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (exited == nullptr && std::chrono::steady_clock::now() < deadline) {
    StepOk(agent);
    for (const LogChunk& c : server.last().logs) output += c.data;
    for (const WorkerReport& w : server.last().workers) {
      if (w.state == WorkerState::kExited) exited = &w;
    }
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_NE(exited, nullptr);
  EXPECT_EQ(exited->exit_code, 3);
  EXPECT_EQ(output, "hello\noops\n");
}

TEST(AgentProcessTest, WorkerSurvivesAnOutageAndStopsAtShutdown) {
  TestDir tmp;
  FakeServerClient server;
  ProcessLauncher launcher;
  Agent agent(Options(tmp.path()), server, launcher);
  server.desired.workers = {Want(12, 0, 3, {"/bin/sh", "-c", "echo $$ > pid; sleep 300"})};
  StepOk(agent);
  ASSERT_EQ(launcher.live_count(), 1u);
  for (int i = 0; i < 3; ++i) {
    server.sync_results.push_back(Unreachable());
    StepOk(agent);
  }
  StepOk(agent);
  EXPECT_EQ(launcher.live_count(), 1u);
  ASSERT_EQ(server.last().workers.size(), 1u);
  EXPECT_EQ(server.last().workers[0].state, WorkerState::kRunning);
  int pid = server.last().workers[0].pid;
  EXPECT_EQ(kill(pid, 0), 0);

  agent.Shutdown();
  EXPECT_EQ(launcher.live_count(), 0u);
  ASSERT_EQ(server.last().workers.size(), 1u);
  EXPECT_EQ(server.last().workers[0].state, WorkerState::kExited);
  EXPECT_EQ(server.last().workers[0].signal, SIGTERM);
}

}  // namespace
}  // namespace drover::agent

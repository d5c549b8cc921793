#include "agent/reconciler.h"

#include <gtest/gtest.h>

#include "agent/fake_launcher.h"
#include "agent/test_dir.h"

namespace drover::agent {
namespace {

using namespace std::chrono_literals;

DesiredWorker Want(uint64_t job, int rank, uint64_t generation, std::vector<int> gpus = {}) {
  return DesiredWorker{{job, rank, generation},
                       {"python3", "train.py"},
                       {{"DROVER_JOB_ID", std::to_string(job)}, {"RANK", std::to_string(rank)}},
                       std::move(gpus)};
}

SyncResponse Desired(std::vector<DesiredWorker> workers, int kill_grace_s = 10) {
  return SyncResponse{std::move(workers), kill_grace_s};
}

const WorkerReport* Find(const SyncRequest& req, const WorkerKey& key) {
  for (const WorkerReport& w : req.workers) {
    if (w.key == key) return &w;
  }
  return nullptr;
}

class ReconcilerTest : public testing::Test {
 protected:
  TestDir tmp_;
  FakeLauncher launcher_;
  Reconciler reconciler_{launcher_, tmp_.path()};
};

TEST_F(ReconcilerTest, StartsDesiredWorkersInTheirDirectories) {
  reconciler_.Apply(Desired({Want(12, 0, 3), Want(12, 1, 3)}));
  ASSERT_EQ(launcher_.started.size(), 2u);
  const LaunchSpec& spec = launcher_.started[0].spec;
  EXPECT_EQ(spec.dir, tmp_.path() / "jobs" / "12" / "0");
  EXPECT_EQ(spec.argv, (std::vector<std::string>{"python3", "train.py"}));
  EXPECT_EQ(spec.env.at("RANK"), "0");
  EXPECT_EQ(launcher_.started[1].spec.dir, tmp_.path() / "jobs" / "12" / "1");

  // The same desired set again changes nothing.
  reconciler_.Apply(Desired({Want(12, 0, 3), Want(12, 1, 3)}));
  EXPECT_EQ(launcher_.started.size(), 2u);

  SyncRequest report = reconciler_.BuildReport("host-a", 1000);
  EXPECT_EQ(report.host, "host-a");
  EXPECT_EQ(report.wait_ms, 1000);
  ASSERT_EQ(report.workers.size(), 2u);
  EXPECT_EQ(report.workers[0].pid, 100);
  EXPECT_EQ(report.workers[0].state, WorkerState::kRunning);
}

TEST_F(ReconcilerTest, StopsWorkersNoLongerDesired) {
  launcher_.stop_exits = false;
  reconciler_.Apply(
      Desired({Want(12, 0, 3), Want(9, 0, 1)}));  // started in key order: job 9 is pid 100
  reconciler_.Apply(Desired({Want(12, 0, 3)}, /*kill_grace_s=*/7));
  ASSERT_EQ(launcher_.stopped.size(), 1u);
  EXPECT_EQ(launcher_.stopped[0].first, 100);
  EXPECT_EQ(launcher_.stopped[0].second, 7s);
  // Still winding down at the next response: no second stop, and still reported.
  reconciler_.Apply(Desired({Want(12, 0, 3)}, 7));
  EXPECT_EQ(launcher_.stopped.size(), 1u);
  EXPECT_EQ(reconciler_.BuildReport("host-a", 1000).workers.size(), 2u);
}

TEST_F(ReconcilerTest, ReportsAnExitUntilAcknowledgedThenForgetsIt) {
  reconciler_.Apply(Desired({Want(12, 0, 3)}));
  launcher_.Exit(100, 3);

  // A report whose response is lost carries the exit again.
  for (int attempt = 0; attempt < 2; ++attempt) {
    SyncRequest report = reconciler_.BuildReport("host-a", 1000);
    const WorkerReport* w = Find(report, {12, 0, 3});
    ASSERT_NE(w, nullptr);
    EXPECT_EQ(w->state, WorkerState::kExited);
    EXPECT_EQ(w->exit_code, 3);
    EXPECT_EQ(w->signal, 0);
    EXPECT_EQ(w->pid, 100);
  }
  reconciler_.Acknowledge();
  EXPECT_TRUE(reconciler_.BuildReport("host-a", 1000).workers.empty());
}

TEST_F(ReconcilerTest, NeverRestartsAGenerationThatExited) {
  reconciler_.Apply(Desired({Want(12, 0, 3)}));
  launcher_.Exit(100, 1);
  (void)reconciler_.BuildReport("host-a", 1000);
  reconciler_.Acknowledge();
  // A response sent before the server saw the exit still lists it.
  reconciler_.Apply(Desired({Want(12, 0, 3)}));
  EXPECT_EQ(launcher_.started.size(), 1u);
  // The next generation starts.
  reconciler_.Apply(Desired({Want(12, 0, 4)}));
  ASSERT_EQ(launcher_.started.size(), 2u);
  EXPECT_EQ(launcher_.started[1].spec.dir, tmp_.path() / "jobs" / "12" / "0");
}

TEST_F(ReconcilerTest, NewGenerationWaitsForTheOldOneToExit) {
  launcher_.stop_exits = false;
  reconciler_.Apply(Desired({Want(12, 0, 3)}));
  reconciler_.Apply(Desired({Want(12, 0, 4)}));
  EXPECT_EQ(launcher_.stopped.size(), 1u);
  EXPECT_EQ(launcher_.started.size(), 1u);  // generation 3 still winds down

  launcher_.Exit(100, 143, 15);
  reconciler_.Poll();
  reconciler_.Apply(Desired({Want(12, 0, 4)}));
  EXPECT_EQ(launcher_.started.size(), 2u);
}

TEST_F(ReconcilerTest, WorkerOnAGpuStillBeingFreedWaits) {
  launcher_.stop_exits = false;
  reconciler_.Apply(Desired({Want(1, 0, 1, {0, 1})}));
  reconciler_.Apply(Desired({Want(2, 0, 1, {1}), Want(3, 0, 1, {2})}));
  ASSERT_EQ(launcher_.started.size(), 2u);  // job 3 on GPU 2 starts; job 2 on GPU 1 waits
  EXPECT_EQ(launcher_.started[1].spec.env.at("DROVER_JOB_ID"), "3");

  launcher_.Exit(100, 143, 15);
  reconciler_.Poll();
  reconciler_.Apply(Desired({Want(2, 0, 1, {1}), Want(3, 0, 1, {2})}));
  ASSERT_EQ(launcher_.started.size(), 3u);
  EXPECT_EQ(launcher_.started[2].spec.env.at("DROVER_JOB_ID"), "2");
}

TEST_F(ReconcilerTest, WorkerThatCannotStartIsReportedAsExit127) {
  launcher_.start_error =
      Status(StatusCode::kUnavailable, "create worker directory: No space left on device");
  reconciler_.Apply(Desired({Want(12, 0, 3)}));
  SyncRequest report = reconciler_.BuildReport("host-a", 1000);
  ASSERT_EQ(report.workers.size(), 1u);
  EXPECT_EQ(report.workers[0].state, WorkerState::kExited);
  EXPECT_EQ(report.workers[0].exit_code, 127);
  EXPECT_EQ(report.workers[0].pid, 0);
  reconciler_.Acknowledge();
  reconciler_.Apply(Desired({Want(12, 0, 3)}));
  EXPECT_TRUE(launcher_.started.empty());  // not retried
}

TEST_F(ReconcilerTest, ShipsOutputAndReportsTheExitWithItsLastBytes) {
  Reconciler reconciler(launcher_, tmp_.path(), /*max_log_bytes=*/4);
  std::filesystem::path dir = tmp_.path() / "jobs" / "12" / "0";
  std::filesystem::create_directories(dir);
  WriteFile(dir / kOutputLogName, "previous generation\n");  // 20 bytes, shipped by that one
  reconciler.Apply(Desired({Want(12, 0, 3)}));
  WriteFile(dir / kOutputLogName, "hello world\n", /*append=*/true);
  launcher_.Exit(100, 0);

  std::string shipped;
  int syncs = 0;
  for (; syncs < 10; ++syncs) {
    SyncRequest report = reconciler.BuildReport("host-a", 1000);
    for (const LogChunk& c : report.logs) {
      EXPECT_EQ(c.offset, 20 + shipped.size());
      shipped += c.data;
    }
    const WorkerReport* w = Find(report, {12, 0, 3});
    ASSERT_NE(w, nullptr);
    reconciler.Acknowledge();
    if (w->state == WorkerState::kExited) break;
    EXPECT_EQ(report.wait_ms, 0);  // output left behind: no long poll
  }
  EXPECT_EQ(shipped, "hello world\n");
  EXPECT_EQ(syncs, 2);  // 4 + 4 + 4 bytes
  EXPECT_TRUE(reconciler.BuildReport("host-a", 1000).workers.empty());
}

TEST_F(ReconcilerTest, StopAllStopsEveryWorker) {
  reconciler_.Apply(Desired({Want(12, 0, 3), Want(12, 1, 3)}, 5));
  reconciler_.StopAll();
  EXPECT_EQ(launcher_.stopped.size(), 2u);
  EXPECT_EQ(reconciler_.running_count(), 0u);
  SyncRequest report = reconciler_.BuildReport("host-a", 0);
  ASSERT_EQ(report.workers.size(), 2u);
  EXPECT_EQ(report.workers[0].state, WorkerState::kExited);
  EXPECT_EQ(report.workers[0].signal, 15);
}

}  // namespace
}  // namespace drover::agent

#include "server/cluster_model.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <set>

#include "spec/plan_parser.h"

namespace drover::server {
namespace {

const Principal kAdmin{Role::kAdmin, "admin", {"/"}, 0};
const WorkerEnvContext kCtx{"http://127.0.0.1:8080", "secret"};

class ClusterModelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    policy_ = sched::MakePolicy("drover").value();
    const char* plan = "consumers:\n  - name: a\n    owned: 2\n  - name: b\n    owned: 2\n";
    store::WriteBatch b;
    ASSERT_TRUE(model_.ApplyPlan(ParsePlan(plan, "plan.yaml").value(), plan, &b).ok());
    model_.RegisterHost({"h1", {4, 16000, 65536}, "[]", "up", 0, 0}, "127.0.0.1", 0, &b);
  }

  JobId Submit(const std::string& yaml, double now = 0) {
    store::WriteBatch b;
    auto job = ParseJobSpec(yaml, "job.yaml");
    EXPECT_TRUE(job.ok()) << job.status().ToString();
    auto id = model_.Submit(*job, yaml, kAdmin, now, &b);
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    return *id;
  }

  // The agent of h1 runs what it is told and reports it running.
  std::vector<DesiredWorker> AgentRuns(double now, std::vector<WorkerReport> extra = {}) {
    store::WriteBatch b;
    auto desired = model_.Desired("h1", kCtx);
    std::vector<WorkerReport> report = extra;
    int pid = 1000;
    for (const auto& d : desired) report.push_back({d.key, pid++, ProcessState::kRunning});
    model_.Sync("h1", report, now, kCtx, &b);
    return model_.Desired("h1", kCtx);
  }

  JobState State(JobId id) { return model_.FindJob(id)->rec.state; }

  // h1 reports every worker it should run as running, but `rank` of `job`,
  // which exited with `code`.
  void ReportExit(JobId job, int rank, int code, double now) {
    store::WriteBatch b;
    std::vector<WorkerReport> report;
    for (const auto& d : model_.Desired("h1", kCtx)) {
      bool exits = d.key.job == job && d.key.rank == rank;
      report.push_back({d.key, 1000 + d.key.rank, exits ? ProcessState::kExited : ProcessState::kRunning, exits ? code : 0, 0});
    }
    model_.Sync("h1", report, now, kCtx, &b);
  }

  ClusterModel model_;
  std::unique_ptr<sched::Policy> policy_;
};

TEST_F(ClusterModelTest, RigidJobRunsAndSucceeds) {
  JobId id = Submit("name: r\nconsumer: /a\nworkers: 2\ncommand: [\"true\"]\n");
  EXPECT_EQ(State(id), kPending);
  store::WriteBatch b;
  model_.Schedule(*policy_, 1, &b);
  EXPECT_EQ(State(id), kStarting);
  auto desired = AgentRuns(2);
  ASSERT_EQ(desired.size(), 2u);
  EXPECT_EQ(desired[0].env.at("WORLD_SIZE"), "2");
  EXPECT_EQ(desired[1].env.at("RANK"), "1");
  EXPECT_EQ(desired[1].env.at("CUDA_VISIBLE_DEVICES"), "1");
  EXPECT_EQ(desired[0].env.at("DROVER_TOKEN"), JobToken(id, "secret"));
  EXPECT_EQ(State(id), kRunning);
  std::vector<WorkerReport> exits;
  for (const auto& d : desired) exits.push_back({d.key, 1, ProcessState::kExited, 0, 0});
  model_.Sync("h1", exits, 3, kCtx, &b);
  EXPECT_EQ(State(id), kSucceeded);
  EXPECT_TRUE(model_.Desired("h1", kCtx).empty());
}

TEST_F(ClusterModelTest, FailedWorkerRestartsAllThenFails) {
  JobId id = Submit("name: r\nconsumer: /a\nworkers: 2\nmax_restarts: 1\ncommand: [\"false\"]\n");
  store::WriteBatch b;
  model_.Schedule(*policy_, 1, &b);
  auto desired = AgentRuns(2);
  model_.Sync("h1", {{desired[0].key, 1, ProcessState::kExited, 3, 0}}, 3, kCtx, &b);
  EXPECT_EQ(State(id), kStarting);
  EXPECT_EQ(model_.FindJob(id)->rec.restarts, 1);
  desired = AgentRuns(4);
  ASSERT_EQ(desired.size(), 2u);
  EXPECT_GT(desired[0].key.generation, 1u);  // a new generation replaces every worker
  model_.Sync("h1", {{desired[1].key, 1, ProcessState::kExited, 1, 0}}, 5, kCtx, &b);
  EXPECT_EQ(State(id), kFailed);
  EXPECT_TRUE(model_.Desired("h1", kCtx).empty());
}

TEST_F(ClusterModelTest, ElasticJobShrinksForAnotherConsumerKeepingItsWorkers) {
  JobId first = Submit("name: e1\nconsumer: /a\nworkers: {min: 1, max: 4}\ncommand: [\"sleep\", \"100\"]\n");
  store::WriteBatch b;
  model_.Schedule(*policy_, 1, &b);
  auto desired = AgentRuns(2);
  ASSERT_EQ(desired.size(), 4u);
  JobId second = Submit("name: e2\nconsumer: /b\nworkers: {min: 1, max: 4}\ncommand: [\"sleep\", \"100\"]\n", 3);
  model_.Schedule(*policy_, 4, &b);
  desired = AgentRuns(5);
  int a = 0, bb = 0;
  for (const auto& d : desired) (d.key.job == first ? a : bb)++;
  EXPECT_EQ(a, 2);
  EXPECT_EQ(bb, 2);
  // The first job's remaining workers are ranks 0 and 1 of its first generation: the same processes.
  for (const auto& d : desired) {
    if (d.key.job == first) {
      EXPECT_LT(d.key.rank, 2);
    }
  }
  ASSERT_EQ(model_.FindJob(first)->rec.rescales.size(), 1u);
  EXPECT_EQ(model_.FindJob(first)->rec.rescales[0].to, 2);
  EXPECT_EQ(State(second), kRunning);
}

TEST_F(ClusterModelTest, UnknownConsumerAndImpossibleJobsAreRefused) {
  store::WriteBatch b;
  auto job = ParseJobSpec("name: x\nconsumer: /nope\ncommand: [\"true\"]\n", "job.yaml");
  auto id = model_.Submit(*job, "", kAdmin, 0, &b);
  ASSERT_FALSE(id.ok());
  EXPECT_EQ(id.status().code(), StatusCode::kNotFound);
  job = ParseJobSpec("name: x\nconsumer: /a\nresources: {gpus: 8}\ncommand: [\"true\"]\n", "job.yaml");
  id = model_.Submit(*job, "", kAdmin, 0, &b);
  ASSERT_FALSE(id.ok());
  EXPECT_NE(id.status().message().find("no host can hold one worker"), std::string::npos) << id.status().message();
  EXPECT_TRUE(b.jobs.empty());
}

TEST_F(ClusterModelTest, UsersActOnlyInTheirSubtree) {
  store::WriteBatch b;
  Principal alice{Role::kUser, "alice", {"/a"}, 0};
  auto job = ParseJobSpec("name: x\nconsumer: /b\ncommand: [\"true\"]\n", "job.yaml");
  auto id = model_.Submit(*job, "", alice, 0, &b);
  ASSERT_FALSE(id.ok());
  EXPECT_EQ(id.status().code(), StatusCode::kPermissionDenied);
}

TEST_F(ClusterModelTest, SpecsThatWouldMeanSomethingElseAreRefusedOrResolved) {
  store::WriteBatch b;
  Principal alice{Role::kUser, "alice", {"/a"}, 0};
  // `user: bob` in alice's spec: refused, not silently ignored.
  auto as_bob = ParseJobSpec("name: x\nconsumer: /a\nuser: bob\ncommand: [\"true\"]\n", "job.yaml");
  auto id = model_.Submit(*as_bob, "", alice, 0, &b);
  ASSERT_FALSE(id.ok());
  EXPECT_NE(id.status().message().find("may not submit as bob"), std::string::npos) << id.status().message();
  // No consumer: alice's only one.
  auto plain = ParseJobSpec("name: x\ncommand: [\"true\"]\n", "job.yaml");
  id = model_.Submit(*plain, "", alice, 0, &b);
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_EQ(model_.FindJob(*id)->rec.consumer, "/a");
  // With two, the error says which.
  Principal carol{Role::kUser, "carol", {"/a", "/b"}, 0};
  id = model_.Submit(*plain, "", carol, 0, &b);
  ASSERT_FALSE(id.ok());
  EXPECT_EQ(id.status().message(), "consumer: required; carol may submit to /a, /b");
}

TEST_F(ClusterModelTest, LostWorkerOfAnElasticJobShrinksIt) {
  JobId id = Submit("name: e\nconsumer: /a\nworkers: {min: 1, max: 4}\ncommand: [\"sleep\", \"9\"]\n");
  store::WriteBatch b;
  model_.Schedule(*policy_, 1, &b);
  auto desired = AgentRuns(2);
  ASSERT_EQ(desired.size(), 4u);
  std::vector<WorkerReport> report;
  for (int r = 0; r < 3; ++r) report.push_back({desired[r].key, 1000 + r, ProcessState::kRunning});
  report.push_back({desired[3].key, 1003, ProcessState::kExited, 0, 9});
  model_.Sync("h1", report, 3, kCtx, &b);
  EXPECT_EQ(State(id), kRunning);
  EXPECT_EQ(model_.Desired("h1", kCtx).size(), 3u);
}

TEST_F(ClusterModelTest, CancelStopsWorkers) {
  JobId id = Submit("name: c\nconsumer: /a\nworkers: 2\ncommand: [\"sleep\", \"9\"]\n");
  store::WriteBatch b;
  model_.Schedule(*policy_, 1, &b);
  AgentRuns(2);
  ASSERT_TRUE(model_.Cancel(id, "by test", 3, &b).ok());
  EXPECT_EQ(State(id), kCancelled);
  EXPECT_TRUE(model_.Desired("h1", kCtx).empty());
  EXPECT_EQ(model_.Cancel(id, "again", 4, &b).code(), StatusCode::kFailedPrecondition);
}

// Runs a job to RUNNING on h1 and returns its desired workers.
std::vector<DesiredWorker> Running(ClusterModel& model, sched::Policy& policy, JobId id) {
  store::WriteBatch b;
  model.Schedule(policy, 1, &b);
  std::vector<WorkerReport> report;
  for (const auto& d : model.Desired("h1", kCtx)) report.push_back({d.key, 1000 + d.key.rank});
  model.Sync("h1", report, 2, kCtx, &b);
  EXPECT_EQ(model.FindJob(id)->rec.state, kRunning);
  return model.Desired("h1", kCtx);
}

TEST_F(ClusterModelTest, WorkerStatusRecordsReadinessProgressAndPauses) {
  JobId id = Submit("name: e\nconsumer: /a\nworkers: {min: 1, max: 4}\ncommand: [\"sleep\", \"9\"]\n");
  auto desired = Running(model_, *policy_, id);
  ASSERT_EQ(desired.size(), 4u);
  const Job& job = *model_.FindJob(id);
  int64_t generation = job.rec.generation;
  WorkerStatus s;
  s.generation = generation;
  s.step = 10;
  s.loss = 0.5;
  EXPECT_EQ(*model_.ReportWorkerStatus(id, 0, s, 3), generation);
  EXPECT_FALSE(job.Contact(job.workers[0])->ready);
  EXPECT_EQ(job.Contact(job.workers[1]), nullptr);
  s.ready = true;
  s.step = 8;  // a lagging rank: the step and loss stay
  s.loss = 0.9;
  s.epoch = 1;
  ASSERT_TRUE(model_.ReportWorkerStatus(id, 1, s, 3).ok());
  EXPECT_TRUE(job.Contact(job.workers[1])->ready);
  EXPECT_EQ(job.rec.progress.step, 10);
  EXPECT_EQ(job.rec.progress.loss, 0.5);
  EXPECT_EQ(job.rec.progress.epoch, 1);
  EXPECT_EQ(model_.ReportWorkerStatus(id, 7, s, 3).status().code(), StatusCode::kNotFound);

  // A resize's pause goes to the oldest resize to that size without one, else to a new entry.
  store::WriteBatch b;
  ASSERT_TRUE(model_.Update(id, std::nullopt, WorkerBounds{1, 2}, 4, &b).ok());
  ASSERT_EQ(job.rec.rescales.size(), 1u);
  s.rescale = WorkerStatus::Rescale{4, 2, 37.5};
  ASSERT_TRUE(model_.ReportWorkerStatus(id, 0, s, 5).ok());
  ASSERT_EQ(job.rec.rescales.size(), 1u);
  EXPECT_EQ(job.rec.rescales[0].pause_ms, 37.5);
  s.rescale = WorkerStatus::Rescale{2, 3, 12};
  ASSERT_TRUE(model_.ReportWorkerStatus(id, 0, s, 6).ok());
  ASSERT_EQ(job.rec.rescales.size(), 2u);
  EXPECT_EQ(job.rec.rescales[1].time, 6);
  EXPECT_EQ(job.rec.rescales[1].pause_ms, 12);
}

// The scheduler grew a job in two steps (2 -> 3 -> 4) before its workers
// regrouped once, 2 -> 4: the two steps become that one resize, with its pause.
TEST_F(ClusterModelTest, OneRegroupAcrossSeveralResizesBecomesOneRescale) {
  JobId id = Submit("name: e\nconsumer: /a\nworkers: {min: 1, max: 4}\ncommand: [\"sleep\", \"9\"]\n");
  ASSERT_EQ(Running(model_, *policy_, id).size(), 4u);
  const Job& job = *model_.FindJob(id);
  store::WriteBatch b;
  WorkerStatus s;
  ASSERT_TRUE(model_.Update(id, std::nullopt, WorkerBounds{1, 2}, 1, &b).ok());  // 4 -> 2
  s.generation = job.rec.generation;
  s.rescale = WorkerStatus::Rescale{4, 2, 30};
  ASSERT_TRUE(model_.ReportWorkerStatus(id, 0, s, 1).ok());
  ASSERT_TRUE(model_.Update(id, std::nullopt, WorkerBounds{1, 3}, 2, &b).ok());
  model_.Schedule(*policy_, 2, &b);  // 2 -> 3
  ASSERT_TRUE(model_.Update(id, std::nullopt, WorkerBounds{1, 4}, 3, &b).ok());
  model_.Schedule(*policy_, 3, &b);  // 3 -> 4
  ASSERT_EQ(job.rec.rescales.size(), 3u);
  s.generation = job.rec.generation;
  s.rescale = WorkerStatus::Rescale{2, 4, 25};
  ASSERT_TRUE(model_.ReportWorkerStatus(id, 0, s, 5).ok());
  ASSERT_EQ(job.rec.rescales.size(), 2u);
  EXPECT_EQ(job.rec.rescales[1].time, 2);
  EXPECT_EQ(job.rec.rescales[1].from, 2);
  EXPECT_EQ(job.rec.rescales[1].to, 4);
  EXPECT_EQ(job.rec.rescales[1].pause_ms, 25);
  EXPECT_EQ(job.rec.rescales[0].pause_ms, 30);  // an earlier resize keeps its own
}

TEST_F(ClusterModelTest, SilentWorkerLeavesAnElasticJob) {
  JobId id = Submit("name: e\nconsumer: /a\nworkers: {min: 1, max: 4}\ncommand: [\"sleep\", \"9\"]\n");
  auto desired = Running(model_, *policy_, id);
  ASSERT_EQ(desired.size(), 4u);
  int64_t generation = model_.FindJob(id)->rec.generation;
  WorkerStatus s;
  s.generation = generation;
  for (int r = 0; r < 4; ++r) ASSERT_TRUE(model_.ReportWorkerStatus(id, r, s, r == 2 ? 3 : 12).ok());
  store::WriteBatch b;
  EXPECT_EQ(model_.CheckWorkers(12.9, 10, &b), 0);  // rank 2 has been silent 9.9 s
  EXPECT_EQ(model_.CheckWorkers(13.3, 10, &b), 1);
  const Job& job = *model_.FindJob(id);
  EXPECT_EQ(job.rec.state, kRunning);
  EXPECT_EQ(job.workers.size(), 3u);
  EXPECT_GT(job.rec.generation, generation);
  EXPECT_EQ(model_.Desired("h1", kCtx).size(), 3u);  // the agent stops rank 2
  bool told = false;
  for (const auto& e : b.events) told = told || e.message.find("worker 2 on h1 sent no heartbeat for 10.3s") == 0;
  EXPECT_TRUE(told);
  EXPECT_EQ(model_.CheckWorkers(13.4, 10, &b), 0);
  // Workers that never posted are not held to the timeout.
  EXPECT_EQ(model_.CheckWorkers(100, 10, &b), 3);
}

TEST_F(ClusterModelTest, RegroupOpensOneNewGenerationWithTheSameWorkers) {
  JobId id = Submit("name: e\nconsumer: /a\nworkers: {min: 1, max: 4}\ncommand: [\"sleep\", \"9\"]\n");
  ASSERT_EQ(Running(model_, *policy_, id).size(), 4u);
  const Job& job = *model_.FindJob(id);
  const int64_t g = job.rec.generation;
  store::WriteBatch b;
  EXPECT_EQ(*model_.Regroup(id, g, "worker 1", 5, &b), g + 1);
  // Every rank that saw the failure asks; only the first opens a generation.
  EXPECT_EQ(*model_.Regroup(id, g, "worker 2", 5, &b), g + 1);
  EXPECT_EQ(job.workers.size(), 4u);
  ASSERT_FALSE(b.jobs.empty());
  EXPECT_EQ(b.jobs.back().generation, g + 1);  // durable: workers never see it go back
  EXPECT_EQ(model_.Regroup(99, g, "worker 1", 5, &b).status().code(), StatusCode::kNotFound);
}

TEST_F(ClusterModelTest, FinishedElasticTrainingStopsUnjoinedNewcomersAndGrowsNoMore) {
  JobId id = Submit("name: e\nconsumer: /a\nworkers: {min: 1, max: 4}\ncommand: [\"sleep\", \"9\"]\n");
  auto desired = Running(model_, *policy_, id);
  ASSERT_EQ(desired.size(), 4u);
  WorkerStatus s;
  s.generation = model_.FindJob(id)->rec.generation;
  s.ready = true;
  s.step = 100;
  for (int r = 0; r < 3; ++r) ASSERT_TRUE(model_.ReportWorkerStatus(id, r, s, 3).ok());
  s.step.reset();  // rank 3 started and is ready, but never trained a step with the others
  ASSERT_TRUE(model_.ReportWorkerStatus(id, 3, s, 3).ok());
  store::WriteBatch b;
  std::vector<WorkerReport> report;
  for (const auto& d : desired) report.push_back({d.key, 1000 + d.key.rank, d.key.rank == 0 ? ProcessState::kExited : ProcessState::kRunning, 0, 0});
  model_.Sync("h1", report, 4, kCtx, &b);
  const Job& job = *model_.FindJob(id);
  EXPECT_EQ(job.rec.state, kRunning);
  EXPECT_EQ(job.workers.size(), 3u);  // ranks 0 (exited 0), 1, 2
  EXPECT_EQ(model_.Desired("h1", kCtx).size(), 2u);
  model_.Schedule(*policy_, 5, &b);  // 2 GPUs idle, but the job is finishing
  EXPECT_EQ(model_.Desired("h1", kCtx).size(), 2u);
  report.clear();
  for (int r = 0; r < 3; ++r) report.push_back({desired[r].key, 1000 + r, ProcessState::kExited, 0, 0});
  model_.Sync("h1", report, 6, kCtx, &b);
  EXPECT_EQ(job.rec.state, kSucceeded);
}

TEST_F(ClusterModelTest, SilentWorkerRestartsARigidJobWhoseNewWorkersStartNotReady) {
  JobId id = Submit("name: r\nconsumer: /a\nworkers: 2\nmax_restarts: 1\ncommand: [\"sleep\", \"9\"]\n");
  Running(model_, *policy_, id);
  const Job& job = *model_.FindJob(id);
  WorkerStatus s;
  s.generation = job.rec.generation;
  s.ready = true;
  s.step = 50;
  ASSERT_TRUE(model_.ReportWorkerStatus(id, 0, s, 3).ok());
  ASSERT_TRUE(model_.ReportWorkerStatus(id, 1, s, 3).ok());
  store::WriteBatch b;
  EXPECT_EQ(model_.CheckWorkers(20, 10, &b), 1) << "the restart replaces the other silent worker too";
  EXPECT_EQ(job.rec.state, kStarting);
  EXPECT_EQ(job.rec.restarts, 1);
  EXPECT_EQ(job.Contact(job.workers[0]), nullptr);
  EXPECT_EQ(job.Contact(job.workers[1]), nullptr);
  EXPECT_FALSE(job.rec.progress.step);
  // A ready post naming a generation older than the worker's is from the old process.
  s.generation = job.rec.generation - 1;
  ASSERT_TRUE(model_.ReportWorkerStatus(id, 0, s, 21).ok());
  EXPECT_FALSE(job.Contact(job.workers[0])->ready);
  EXPECT_EQ(model_.WorkerUnresponsive(id, 9, "test", 22, &b).code(), StatusCode::kNotFound);
}


// A policy that answers each cycle with the decisions it is given, in that order.
class ScriptedPolicy : public sched::Policy {
 public:
  std::vector<sched::Decision> next;
  sched::Decisions Decide(const sched::ClusterState&, TimePoint) override {
    sched::Decisions d;
    d.changes = std::move(next);
    next.clear();
    return d;
  }
  const char* name() const override { return "scripted"; }
};

// Each worker's CUDA_VISIBLE_DEVICES on h1, which must be set and never shared.
void ExpectDistinctDevices(const std::vector<DesiredWorker>& desired) {
  std::set<std::string> seen;
  for (const auto& d : desired) {
    const std::string& dev = d.env.at("CUDA_VISIBLE_DEVICES");
    EXPECT_FALSE(dev.empty()) << "job " << d.key.job << " rank " << d.key.rank << " has no GPU";
    EXPECT_TRUE(seen.insert(dev).second) << "job " << d.key.job << " rank " << d.key.rank << " shares GPU " << dev;
    EXPECT_EQ(d.gpus.size(), 1u);
  }
}

// A start listed before the preemption or shrink that frees its GPUs (the
// scheduler emits decisions by job id) still gets them.
TEST_F(ClusterModelTest, WorkersStartedAheadOfAPreemptionGetTheFreedGpus) {
  for (bool elastic_victim : {false, true}) {
    SCOPED_TRACE(elastic_victim ? "victim shrinks" : "victim is preempted");
    ClusterModel fresh = model_;
    std::swap(model_, fresh);
    // Job `first` waits (preempted earlier); job `victim` holds all 4 GPUs.
    JobId first = Submit("name: p\nconsumer: /a\nworkers: 2\ncommand: [\"sleep\", \"100\"]\n");
    JobId victim = Submit(std::string("name: v\nconsumer: /b\nworkers: ") +
                          (elastic_victim ? "{min: 1, max: 4}" : "4") + "\ncommand: [\"sleep\", \"100\"]\n");
    ScriptedPolicy policy;
    store::WriteBatch b;
    policy.next = {{victim, sched::Action::kStart, {{0, 4}}, "start"}};
    model_.Schedule(policy, 1, &b);
    ExpectDistinctDevices(AgentRuns(2));
    policy.next = {{first, sched::Action::kStart, {{0, 2}}, "start"},
                   elastic_victim ? sched::Decision{victim, sched::Action::kShrink, {{0, 2}}, "shrink"}
                                  : sched::Decision{victim, sched::Action::kPreempt, {}, "preempt"}};
    model_.Schedule(policy, 3, &b);
    auto desired = AgentRuns(4);
    EXPECT_EQ(desired.size(), elastic_victim ? 4u : 2u);
    ExpectDistinctDevices(desired);
    EXPECT_EQ(State(first), kRunning);
    if (!elastic_victim) {
      // The preempted job comes back with its devices when the other ends.
      EXPECT_EQ(State(victim), kPreempted);
      ASSERT_TRUE(model_.Cancel(first, "done", 5, &b).ok());
      policy.next = {{victim, sched::Action::kStart, {{0, 4}}, "restart"}};
      model_.Schedule(policy, 6, &b);
      desired = AgentRuns(7);
      EXPECT_EQ(desired.size(), 4u);
      ExpectDistinctDevices(desired);
    }
    std::swap(model_, fresh);
  }
}

// Through the real policy: the reclaimed job's GPUs go to the owner's job.
TEST_F(ClusterModelTest, PreemptedAndRestartedWorkersAlwaysHaveDevices) {
  JobId borrower = Submit("name: b1\nconsumer: /b\nworkers: {min: 1, max: 4}\ncommand: [\"sleep\", \"100\"]\n");
  store::WriteBatch b;
  model_.Schedule(*policy_, 1, &b);
  ExpectDistinctDevices(AgentRuns(2));
  JobId rigid = Submit("name: r1\nconsumer: /a\nworkers: 2\ncommand: [\"sleep\", \"100\"]\n", 3);
  for (double t = 4; t < 200 && State(rigid) != kRunning; t += 5) {
    model_.Schedule(*policy_, t, &b);
    ExpectDistinctDevices(AgentRuns(t + 1));
  }
  EXPECT_EQ(State(rigid), kRunning);
  EXPECT_EQ(State(borrower), kRunning);
}

// The crash loop of a new user's first elastic job: `exit 3` on every worker.
TEST_F(ClusterModelTest, ElasticJobWhoseWorkersKeepFailingEndsFailedAfterItsBudget) {
  JobId id = Submit("name: crash\nconsumer: /a\nworkers: {min: 1, max: 4}\ncommand: [sh, -c, \"exit 3\"]\n");
  EXPECT_EQ(model_.FindJob(id)->rec.max_restarts, kDefaultElasticFailures);
  store::WriteBatch b;
  int started = 0;
  double t = 1;
  bool saw_backoff = false;
  for (int cycle = 0; cycle < 200 && !IsTerminal(State(id)); ++cycle, t += 1) {
    model_.Schedule(*policy_, t, &b);
    if (model_.PendingReason(id).find("backing off after") != std::string::npos) saw_backoff = true;
    auto desired = model_.Desired("h1", kCtx);
    started += static_cast<int>(desired.size());
    std::vector<WorkerReport> exits;
    for (const auto& d : desired) exits.push_back({d.key, 1, ProcessState::kExited, 3, 0});
    model_.Sync("h1", exits, t + 0.5, kCtx, &b);
  }
  std::printf("the crash-looping job started %d workers before it failed\n", started);
  const Job* job = model_.FindJob(id);
  EXPECT_EQ(job->rec.state, kFailed);
  EXPECT_EQ(job->rec.failures, kDefaultElasticFailures + 1);
  EXPECT_NE(job->rec.reason.find("exited with 3"), std::string::npos) << job->rec.reason;
  EXPECT_NE(job->rec.reason.find("more than max_restarts (6) allows"), std::string::npos) << job->rec.reason;
  EXPECT_GE(job->rec.failed_rank, 0);
  EXPECT_TRUE(saw_backoff);
  EXPECT_LE(started, 2 * (kDefaultElasticFailures + 1));
  EXPECT_LE(job->rec.rescales.size(), 10u);
}

TEST_F(ClusterModelTest, ReplacementWaitsForTheBackoffAndFailuresAreForgottenAfterAQuietSpell) {
  JobId id = Submit("name: e\nconsumer: /a\nworkers: {min: 1, max: 4}\ncommand: [\"sleep\", \"100\"]\n");
  store::WriteBatch b;
  model_.Schedule(*policy_, 1, &b);
  auto desired = AgentRuns(2);
  ASSERT_EQ(desired.size(), 4u);
  auto fail = [&](int rank, double now) { ReportExit(id, rank, 1, now); };
  // Two failures: backoff 1 s, then 2 s.
  fail(desired[3].key.rank, 10);
  fail(desired[2].key.rank, 10);
  EXPECT_EQ(model_.FindJob(id)->rec.failures, 2);
  EXPECT_DOUBLE_EQ(BackoffUntil(model_.FindJob(id)->rec), 12);
  model_.Schedule(*policy_, 11.5, &b);
  EXPECT_EQ(model_.FindJob(id)->workers.size(), 2u);  // no replacement during the backoff
  model_.Schedule(*policy_, 12.5, &b);
  EXPECT_EQ(model_.FindJob(id)->workers.size(), 4u);  // then it grows back
  desired = AgentRuns(13);
  fail(desired[3].key.rank, 10 + kFailureResetSeconds);
  EXPECT_EQ(model_.FindJob(id)->rec.failures, 1);  // ten quiet minutes: the count starts over
  EXPECT_EQ(State(id), kRunning);
  EXPECT_EQ(model_.FindJob(id)->workers.size(), 3u);
}

// A requeued job starts over (its step, loss, samples left go) but keeps
// what its steps showed of its speed: its learned profile.
TEST_F(ClusterModelTest, ARequeuedJobKeepsItsLearnedProfile) {
  Submit("name: e\nconsumer: /a\nworkers: {min: 2, max: 2}\ncommand: [\"sleep\", \"100\"]\n");
  JobId el = Submit("name: f\nconsumer: /b\nworkers: {min: 2, max: 3}\nmax_restarts: 3\ncommand: [\"x\"]\n");
  store::WriteBatch b;
  model_.Schedule(*policy_, 1, &b);
  AgentRuns(2);
  const Job* job = model_.FindJob(el);
  ASSERT_EQ(job->workers.size(), 2u);
  WorkerStatus s;
  s.generation = job->rec.generation;
  s.step = 10;
  s.samples_left = 1e5;
  s.world_size = 2;
  s.perf = api::StepPerf{20, 64, 32, 0.05, 0.04};
  ASSERT_TRUE(model_.ReportWorkerStatus(el, job->workers[0].rank, s, 3).ok());
  ASSERT_TRUE(job->rec.progress.profile.has_value());
  ASSERT_EQ(job->rec.progress.profile->points.size(), 1u);
  const std::vector<double> before = job->Speedup(4);
  ASSERT_FALSE(before.empty());

  ReportExit(el, job->workers[0].rank, 1, 5);
  ASSERT_EQ(State(el), kPending);
  EXPECT_FALSE(job->rec.progress.step) << "progress starts over";
  EXPECT_FALSE(job->rec.progress.samples_left);
  ASSERT_TRUE(job->rec.progress.profile.has_value()) << "the profile does not";
  EXPECT_EQ(job->rec.progress.profile->points.size(), 1u);
  EXPECT_EQ(job->Speedup(4), before);
}

TEST_F(ClusterModelTest, ElasticJobBelowMinIsRequeuedThenRestartsAfterTheBackoff) {
  JobId id = Submit("name: e\nconsumer: /a\nworkers: {min: 2, max: 2}\ncommand: [\"sleep\", \"100\"]\n");
  // (rigid: restarts in place, as before)
  JobId el = Submit("name: f\nconsumer: /b\nworkers: {min: 2, max: 3}\nmax_restarts: 1\ncommand: [\"x\"]\n");
  store::WriteBatch b;
  model_.Schedule(*policy_, 1, &b);
  auto desired = AgentRuns(2);
  const Job* job = model_.FindJob(el);
  ASSERT_EQ(job->workers.size(), 2u);
  ReportExit(el, job->workers[0].rank, 1, 5);
  EXPECT_EQ(State(el), kPending);
  EXPECT_TRUE(job->workers.empty());
  model_.Schedule(*policy_, 5.5, &b);
  EXPECT_EQ(State(el), kPending);
  EXPECT_NE(model_.PendingReason(el).find("starts again in"), std::string::npos) << model_.PendingReason(el);
  EXPECT_EQ(model_.PendingKindOf(el), sched::PendingKind::kBackoff);
  model_.Schedule(*policy_, 6.5, &b);
  EXPECT_EQ(State(el), kStarting);
  desired = AgentRuns(7);
  ReportExit(el, job->workers[0].rank, 1, 8);
  EXPECT_EQ(State(el), kFailed);  // the second failure in a row is over max_restarts: 1
  EXPECT_EQ(State(id), kRunning);
}


// The comparison behind the failed-commit tests, seen to bite: a change made
// in memory only (as a failed commit used to leave) is reported; an equal
// copy is not.
TEST_F(ClusterModelTest, NegativeControlDurableDiffSeesAChangeMadeInMemoryOnly) {
  JobId id = Submit("name: d\nconsumer: /a\nworkers: {min: 1, max: 2}\ncommand: [\"sleep\", \"100\"]\n");
  ClusterModel copy = model_;
  EXPECT_EQ(ClusterModel::DurableDiff(model_, copy), "");
  store::WriteBatch b;
  ASSERT_TRUE(copy.Cancel(id, "in memory only", 1, &b).ok());
  std::string diff = ClusterModel::DurableDiff(model_, copy);
  EXPECT_NE(diff.find("- job 1 d /a admin PENDING"), std::string::npos) << diff;
  EXPECT_NE(diff.find("+ job 1 d /a admin CANCELLED"), std::string::npos) << diff;
  ClusterModel other = model_;
  Submit("name: e\nconsumer: /b\ncommand: [\"true\"]\n");
  EXPECT_NE(ClusterModel::DurableDiff(model_, other).find("next job id"), std::string::npos);
}


// Two running jobs whose rank 0 shares a host never get the same MASTER_PORT
// (it used to be 20000 + id % 20000, so jobs 1 and 20001 collided); the port
// is recorded with the job and freed when it stops.
TEST_F(ClusterModelTest, RunningJobsHoldDistinctRecordedMasterPorts) {
  JobId a = Submit("name: a\nconsumer: /a\nworkers: 2\ncommand: [\"sleep\", \"100\"]\n");
  JobId b = Submit("name: b\nconsumer: /b\nworkers: 2\ncommand: [\"sleep\", \"100\"]\n");
  EXPECT_EQ(model_.FindJob(a)->rec.master_port, 0);  // not running: holds none
  store::WriteBatch batch;
  model_.Schedule(*policy_, 1, &batch);
  std::map<JobId, std::set<std::string>> ports;
  for (const auto& d : AgentRuns(2)) ports[d.key.job].insert(d.env.at("MASTER_PORT"));
  ASSERT_EQ(ports[a].size(), 1u);
  ASSERT_EQ(ports[b].size(), 1u);
  EXPECT_NE(*ports[a].begin(), *ports[b].begin());
  const int pa = model_.FindJob(a)->rec.master_port;
  EXPECT_GE(pa, kMasterPortBase);
  EXPECT_LT(pa, kMasterPortBase + kMasterPorts);
  EXPECT_EQ(std::to_string(pa), *ports[a].begin());
  bool stored = false;  // the port travels with the job's record
  for (const auto& r : batch.jobs) stored = stored || (r.id == a && r.master_port == pa);
  EXPECT_TRUE(stored);
  ASSERT_TRUE(model_.Cancel(a, "done", 3, &batch).ok());
  EXPECT_EQ(model_.FindJob(a)->rec.master_port, 0);
  JobId c = Submit("name: c\nconsumer: /a\nworkers: 2\ncommand: [\"sleep\", \"100\"]\n", 4);
  model_.Schedule(*policy_, 5, &batch);
  EXPECT_NE(model_.FindJob(c)->rec.master_port, model_.FindJob(b)->rec.master_port);
  EXPECT_NE(model_.FindJob(c)->rec.master_port, 0);
}

}  // namespace
}  // namespace drover::server

namespace drover::server {
namespace {

// Which hosts job `id`'s workers are on, as "h1:2 h2:1".
std::string Where(const ClusterModel& m, JobId id) {
  std::map<std::string, int> n;
  for (const auto& w : m.FindJob(id)->workers) ++n[w.host];
  std::string s;
  for (const auto& [h, k] : n) s += (s.empty() ? "" : " ") + h + ":" + std::to_string(k);
  return s;
}

TEST_F(ClusterModelTest, AHostThatMissesASyncGetsNoNewWorkUntilItSyncsAgain) {
  store::WriteBatch b;
  model_.RegisterHost({"h2", {4, 16000, 65536}, "[]", "up", 0, 0}, "127.0.0.2", 0, &b);
  model_.Sync("h1", {}, 0, kCtx, &b, 1);
  model_.Sync("h2", {}, 0, kCtx, &b, 1);
  // h1 keeps syncing; h2 owes its next sync by 1 s + kSyncSlackSeconds.
  model_.Sync("h1", {}, 2.9, kCtx, &b, 1);
  EXPECT_EQ(model_.CheckHosts(2.9, 10, &b), 0);
  EXPECT_EQ(model_.hosts().at("h2").in_doubt, "");
  model_.Sync("h1", {}, 3.1, kCtx, &b, 1);
  EXPECT_EQ(model_.CheckHosts(3.1, 10, &b), 0);  // in doubt, not down
  EXPECT_EQ(model_.hosts().at("h2").rec.state, "up");
  EXPECT_EQ(model_.hosts().at("h2").in_doubt, "missed a sync: none for 3s (its agent polls every 1s)");
  // A job of 6 workers gets h1's 4 only, though h2 has 4 free GPUs.
  JobId id = Submit("name: e\nconsumer: /a\nworkers: {min: 1, max: 6}\ncommand: [\"true\"]\n", 3.1);
  model_.Schedule(*policy_, 3.2, &b);
  EXPECT_EQ(Where(model_, id), "h1:4");
  // h2 syncs again: it takes work at once.
  model_.Sync("h2", {}, 3.5, kCtx, &b, 1);
  EXPECT_EQ(model_.hosts().at("h2").in_doubt, "");
  model_.Schedule(*policy_, 3.6, &b);
  EXPECT_EQ(Where(model_, id), "h1:4 h2:2");
}

TEST_F(ClusterModelTest, APeerSilentWhenItsGroupFailsPutsItsHostInDoubt) {
  store::WriteBatch b;
  model_.RegisterHost({"h2", {4, 16000, 65536}, "[]", "up", 0, 0}, "127.0.0.2", 0, &b);
  JobId id = Submit("name: e\nconsumer: /a\nworkers: {min: 1, max: 2}\nresources: {gpus: 4}\ncommand: [\"true\"]\n");
  model_.Schedule(*policy_, 0, &b);
  ASSERT_EQ(Where(model_, id), "h1:1 h2:1");
  const int64_t g = model_.FindJob(id)->rec.generation;
  WorkerStatus s;
  s.generation = g;
  ASSERT_TRUE(model_.ReportWorkerStatus(id, 0, s, 1).ok());
  ASSERT_TRUE(model_.ReportWorkerStatus(id, 1, s, 1).ok());
  ASSERT_TRUE(model_.ReportWorkerStatus(id, 0, s, 4).ok());
  // Worker 0 asks to regroup at 4.6: worker 1 (on h2) has been silent 3.6 s > kPeerSilenceSeconds.
  ASSERT_EQ(model_.FindJob(id)->workers[0].host, "h1");
  EXPECT_EQ(model_.DoubtSilentPeers(id, 0, 2), 0);  // silent 1 s: not yet
  EXPECT_EQ(model_.DoubtSilentPeers(id, 0, 4.6), 1);
  EXPECT_NE(model_.hosts().at("h2").in_doubt.find("posted nothing for 4s when worker"), std::string::npos)
      << model_.hosts().at("h2").in_doubt;
  EXPECT_EQ(model_.hosts().at("h1").in_doubt, "");
}

}  // namespace
}  // namespace drover::server

#include "store/sqlite_store.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>
#include <tuple>

#include "store/schema.h"

namespace drover::store {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::path(testing::TempDir()) / "store_test.XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
    EXPECT_FALSE(path_.empty());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string db() const { return path_ + "/drover.db"; }

 private:
  std::string path_;
};

std::unique_ptr<SqliteStore> OpenOrDie(const std::string& dir, const SqliteStoreOptions& options = {}) {
  Result<std::unique_ptr<SqliteStore>> s = SqliteStore::Open(dir, options);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? std::move(s).value() : nullptr;
}

Snapshot LoadOrDie(Store& store) {
  Result<Snapshot> s = store.Load();
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? std::move(s).value() : Snapshot{};
}

// Every field, as a comparable and printable tuple.
auto Fields(const JobRecord& j) {
  return std::make_tuple(j.id, j.name, j.consumer, j.user, j.priority, j.workers.min, j.workers.max,
                         j.per_worker.gpus, j.per_worker.cpu_millis, j.per_worker.memory_mib,
                         j.argv, j.env, j.max_restarts, j.restarts, j.state, j.reason,
                         j.submit_time, j.start_time, j.end_time, j.attained_service, j.generation,
                         j.spec_yaml, j.failures, j.last_failure, j.failed_rank, j.rescales, j.progress,
                         j.master_port);
}
auto Fields(const EventRecord& e) { return std::make_tuple(e.job, e.time, e.type, e.message); }
auto Fields(const HostRecord& h) {
  return std::make_tuple(h.name, h.capacity.gpus, h.capacity.cpu_millis, h.capacity.memory_mib,
                         h.gpus_json, h.state, h.registered, h.last_seen, h.cordoned);
}
auto Fields(const WorkerRecord& w) {
  return std::make_tuple(w.job, w.rank, w.host, w.gpus, w.generation, w.pid, w.state, w.exit_code);
}
auto Fields(const UserRecord& u) { return std::make_tuple(u.name, u.role, u.consumers); }
auto Fields(const TokenRecord& t) {
  return std::make_tuple(t.sha256, t.kind, t.user, t.job, t.created);
}
template <typename T>
auto Fields(const std::vector<T>& v) {
  std::vector<decltype(Fields(v[0]))> out;
  for (const T& x : v) out.push_back(Fields(x));
  return out;
}

void ExpectSameSnapshot(const Snapshot& a, const Snapshot& b) {
  EXPECT_EQ(a.plan_yaml, b.plan_yaml);
  EXPECT_EQ(Fields(a.jobs), Fields(b.jobs));
  EXPECT_EQ(Fields(a.hosts), Fields(b.hosts));
  EXPECT_EQ(Fields(a.workers), Fields(b.workers));
  EXPECT_EQ(Fields(a.users), Fields(b.users));
  EXPECT_EQ(Fields(a.tokens), Fields(b.tokens));
  EXPECT_EQ(a.next_job_id, b.next_job_id);
  EXPECT_EQ(a.experiments, b.experiments);
  EXPECT_EQ(a.metrics, b.metrics);
  EXPECT_EQ(a.deployments, b.deployments);
}

// What the server writes for one submission.
WriteBatch Submission(JobId id) {
  WriteBatch b;
  JobRecord j;
  j.id = id;
  j.name = "job-" + std::to_string(id);
  j.consumer = "/research/vision";
  j.user = "alice";
  j.argv = {"python", "train.py", "--epochs", "10"};
  j.state = api::JobState::kPending;
  j.submit_time = 1700000000.0 + static_cast<double>(id);
  b.jobs.push_back(j);
  b.events.push_back({id, j.submit_time, "state", "submitted"});
  b.next_job_id = id + 1;
  return b;
}

JobRecord FullJob() {
  JobRecord j;
  j.id = 42;
  j.name = "résnet-训练 🚀";
  j.consumer = "/research/视觉";
  j.user = "ünïcode";
  j.priority = -7;
  j.workers = {2, 16};
  j.per_worker = {4, 32000, 1 << 20};
  for (int i = 0; i < 20000; ++i) j.argv.push_back("--arg" + std::to_string(i) + "=\"x\\y\"");
  j.argv.push_back("");
  j.argv.push_back("tab\tnew\nline");
  j.env = {{"CUDA_VISIBLE_DEVICES", "0,1"}, {"LANG", "zh_CN.UTF-8"}, {"ÉMOJI", "😀"}, {"EMPTY", ""}};
  j.max_restarts = 3;
  j.restarts = 1;
  j.state = api::JobState::kRunning;
  j.reason = "scaled up: 4 GPUs free";
  j.submit_time = 1700000000.123456789;
  j.start_time = 1700000005.5;
  j.end_time = 0.1 + 0.2;  // not exactly 0.3: doubles round-trip bit for bit
  j.attained_service = 12345.678;
  j.generation = int64_t{1} << 40;
  j.spec_yaml = "name: x\nargv: [a, b]\n# comment ✓\n";
  j.failures = 5;
  j.last_failure = 1700000007.25;
  j.failed_rank = 11;
  j.rescales = {{1700000001.5, 1, 4, 37.25}, {1700000002.5, 4, 2, std::nullopt}};
  j.progress = {120, 3, 0.1 + 0.2, 1234.5, 4};
  j.progress.profile = ProfileRecord{64, 512, {{1, 1, 64, 0.125, 0.1 + 0.02, 7}, {2, 4, 16, 0.0625, 0.03, 2}}, 4.5, 0.1 + 0.2};
  j.progress.profile->prior = PriorRecord{3, 0.01, 0.1 + 0.2, 1e-3, 0, 0.05, 1e-4, 1.5};
  j.progress.profile->noise_batch = 192;
  j.progress.samples_left = 6.4e6;
  j.master_port = 29517;
  return j;
}

WriteBatch EverythingBatch() {
  WriteBatch b;
  b.plan_yaml = "consumers:\n  - name: research\n    owned: 8 # ✓\n";
  b.jobs.push_back(FullJob());
  JobRecord empty;  // every field at its default, every string and container empty
  empty.id = 7;
  b.jobs.push_back(empty);
  b.events.push_back({42, 1.5, "state", "RUNNING ✓"});
  b.events.push_back({42, 2.5, "scale", ""});
  b.hosts.push_back({"gpu-01",
                     {8, 64000, 512000},
                     R"([{"index":0,"uuid":"GPU-1","name":"H200","memory_mib":143771}])",
                     "up",
                     10.25,
                     99.75,
                     true});
  b.hosts.push_back({"ホスト", {}, "[]", "down", 0, 0});
  b.workers.push_back({42, 0, "gpu-01", {0, 1, 2, 3}, int64_t{1} << 40, 12345, api::WorkerState::kRunning, 0});
  b.workers.push_back({42, 1, "ホスト", {}, 3, 0, api::WorkerState::kExited, -9});
  b.workers.push_back({7, 0, "", {}, 0, 0, api::WorkerState::kAssigned, 0});
  b.users.push_back({"alice", "admin", {"/", "/research/视觉"}});
  b.users.push_back({"bob", "user", {}});
  b.tokens.push_back({std::string(64, 'a'), "user", "alice", 0, 1.25});
  b.tokens.push_back({std::string(64, 'b'), "job", "", 42, 2.5});
  b.next_job_id = 43;
  b.experiments.push_back({3, "fmnist-cnn", "/research/视觉", "alice", "name: fmnist-cnn\n", "RUNNING", "", 1.5, 0,
                           {{0, 42, {0.1 + 0.2, 3, 1}, 1, "STOPPED", "rung 0: loss 0.9 ✓", 2},
                            {1, 7, {1e-3, 0, 2}, 0, "RUNNING", ""}}});
  b.experiments.push_back({1, "empty", "/", "bob", "", "SUCCEEDED", "", 0, 2.5, {}});
  b.metrics.push_back({42, 2, 2.5, R"({"epoch":2,"val_acc":0.86})", int64_t{1} << 35});
  b.metrics.push_back({42, 1, 1.5, R"({"epoch":1,"val_acc":0.853})", 0});
  b.deployments.push_back({"fmnist", "alice", "/research", "name: fmnist\n", "ACTIVE", "", 42, 3.5,
                           {{4.0, 0, 1, "a request arrived at zero replicas"}, {9.25, 1, 3, "in-flight 20 ≥ 8 × 2"}}});
  b.deployments.push_back({"bert", "bob", "/", "name: bert\n", "FAILED", "job 7 FAILED: exit 1", 0, 1.0, {}});
  return b;
}

TEST(SqliteStoreTest, FreshStoreIsEmpty) {
  TempDir dir;
  auto store = OpenOrDie(dir.path());
  Snapshot s = LoadOrDie(*store);
  ExpectSameSnapshot(s, Snapshot{});
  EXPECT_EQ(s.next_job_id, 1u);
  EXPECT_TRUE(store->Apply(WriteBatch{}).ok());
  EXPECT_TRUE(store->Events(1, 10).value().empty());
}

TEST(SqliteStoreTest, RoundTripsEveryRecordAndField) {
  TempDir dir;
  auto store = OpenOrDie(dir.path());
  WriteBatch b = EverythingBatch();
  Status st = store->Apply(b);
  ASSERT_TRUE(st.ok()) << st.ToString();

  Snapshot want;
  want.plan_yaml = *b.plan_yaml;
  want.jobs = {b.jobs[1], b.jobs[0]};  // by id
  want.hosts = b.hosts;                // by name (UTF-8 bytes: "gpu-01" < "ホスト")
  want.workers = {b.workers[2], b.workers[0], b.workers[1]};  // by (job, rank)
  want.users = b.users;
  want.tokens = b.tokens;
  want.next_job_id = 43;
  want.experiments = {b.experiments[1], b.experiments[0]};  // by id
  want.metrics = {b.metrics[1], b.metrics[0]};              // by (job, seq)
  want.deployments = {b.deployments[1], b.deployments[0]};  // by name
  ExpectSameSnapshot(LoadOrDie(*store), want);
  EXPECT_EQ(Fields(store->Events(42, 10).value()), Fields(b.events));
}

TEST(SqliteStoreTest, AbsentOptionalsLeaveStoredValuesAlone) {
  TempDir dir;
  auto store = OpenOrDie(dir.path());
  WriteBatch first;
  first.plan_yaml = "plan: 1";
  first.next_job_id = 5;
  ASSERT_TRUE(store->Apply(first).ok());
  ASSERT_TRUE(store->Apply(Submission(3) /* sets next_job_id 4 */).ok());
  WriteBatch only_host;
  only_host.hosts.push_back({"h", {}, "[]", "up", 0, 0});
  ASSERT_TRUE(store->Apply(only_host).ok());
  Snapshot s = LoadOrDie(*store);
  EXPECT_EQ(s.plan_yaml, "plan: 1");
  EXPECT_EQ(s.next_job_id, 4u);  // the last value written, not the largest
  WriteBatch empty_plan;
  empty_plan.plan_yaml = "";  // set, to the empty string
  ASSERT_TRUE(store->Apply(empty_plan).ok());
  EXPECT_EQ(LoadOrDie(*store).plan_yaml, "");
}

TEST(SqliteStoreTest, UpsertReplacesByKey) {
  TempDir dir;
  auto store = OpenOrDie(dir.path());
  ASSERT_TRUE(store->Apply(EverythingBatch()).ok());

  WriteBatch b;
  JobRecord j = FullJob();
  j.state = api::JobState::kSucceeded;
  j.argv = {"short"};
  j.env.clear();
  b.jobs.push_back(j);
  b.hosts.push_back({"gpu-01", {4, 1, 2}, "[]", "down", 1, 2});
  b.workers.push_back({42, 1, "gpu-01", {7}, 4, 99, api::WorkerState::kRunning, 0});
  b.users.push_back({"bob", "admin", {"/x"}});
  b.tokens.push_back({std::string(64, 'a'), "agent", "gpu-01", 0, 9});
  // Two upserts of one key in one batch: the later wins.
  b.users.push_back({"bob", "user", {"/y"}});
  ASSERT_TRUE(store->Apply(b).ok());

  Snapshot s = LoadOrDie(*store);
  ASSERT_EQ(s.jobs.size(), 2u);
  EXPECT_EQ(Fields(s.jobs[1]), Fields(j));
  ASSERT_EQ(s.hosts.size(), 2u);
  EXPECT_EQ(Fields(s.hosts[0]), Fields(b.hosts[0]));
  ASSERT_EQ(s.workers.size(), 3u);
  EXPECT_EQ(Fields(s.workers[2]), Fields(b.workers[0]));
  ASSERT_EQ(s.users.size(), 2u);
  EXPECT_EQ(Fields(s.users[1]), Fields(b.users[1]));
  ASSERT_EQ(s.tokens.size(), 2u);
  EXPECT_EQ(Fields(s.tokens[0]), Fields(b.tokens[0]));
}

TEST(SqliteStoreTest, RemovedWorkersRevokedTokensAndRemovedUsersAreDeleted) {
  TempDir dir;
  auto store = OpenOrDie(dir.path());
  ASSERT_TRUE(store->Apply(EverythingBatch()).ok());

  WriteBatch b;
  b.removed_workers = {{42, 0}, {42, 1}, {999, 3} /* absent: a no-op */};
  // Deletions apply first, so a batch can replace a job's worker set.
  b.workers.push_back({42, 0, "gpu-01", {5}, 9, 0, api::WorkerState::kAssigned, 0});
  b.revoked_tokens = {std::string(64, 'b'), "not-stored"};
  b.removed_users = {"bob", "nobody"};
  ASSERT_TRUE(store->Apply(b).ok());

  Snapshot s = LoadOrDie(*store);
  ASSERT_EQ(s.workers.size(), 2u);
  EXPECT_EQ(s.workers[0].job, 7u);
  EXPECT_EQ(Fields(s.workers[1]), Fields(b.workers[0]));
  ASSERT_EQ(s.tokens.size(), 1u);
  EXPECT_EQ(s.tokens[0].sha256, std::string(64, 'a'));
  ASSERT_EQ(s.users.size(), 1u);
  EXPECT_EQ(s.users[0].name, "alice");
}

TEST(SqliteStoreTest, ReclaimTimersAreReplacedAsAWholeAndSurviveAReopen) {
  TempDir dir;
  {
    auto store = OpenOrDie(dir.path());
    WriteBatch b;
    b.reclaim_timers = std::map<std::string, double>{{"/research", 1700000000.25}, {"/research/nlp", 1700000001.5}};
    ASSERT_TRUE(store->Apply(b).ok());
    WriteBatch unrelated = Submission(1);  // no timers: they stay as they are
    ASSERT_TRUE(store->Apply(unrelated).ok());
    EXPECT_EQ(LoadOrDie(*store).reclaim_timers.size(), 2u);
    WriteBatch next;
    next.reclaim_timers = std::map<std::string, double>{{"/production", 1700000002.0}};
    ASSERT_TRUE(store->Apply(next).ok());
  }
  auto store = OpenOrDie(dir.path());
  Snapshot s = LoadOrDie(*store);
  EXPECT_EQ(s.reclaim_timers, (std::map<std::string, double>{{"/production", 1700000002.0}}));
}

TEST(SqliteStoreTest, ReopenSeesEverything) {
  TempDir dir;
  Snapshot before;
  {
    auto store = OpenOrDie(dir.path());
    ASSERT_TRUE(store->Apply(EverythingBatch()).ok());
    for (JobId id = 100; id < 110; ++id) ASSERT_TRUE(store->Apply(Submission(id)).ok());
    before = LoadOrDie(*store);
  }
  auto store = OpenOrDie(dir.path());
  Snapshot after = LoadOrDie(*store);
  ExpectSameSnapshot(after, before);
  EXPECT_EQ(after.next_job_id, 110u);
  EXPECT_EQ(after.jobs.size(), 12u);
  EXPECT_EQ(store->Events(42, 10).value().size(), 2u);
  EXPECT_EQ(store->Events(105, 10).value().at(0).message, "submitted");
}

TEST(SqliteStoreTest, EventsReturnsTheNewestOldestFirst) {
  TempDir dir;
  auto store = OpenOrDie(dir.path());
  ASSERT_TRUE(store->Apply(Submission(1)).ok());
  ASSERT_TRUE(store->Apply(Submission(2)).ok());
  WriteBatch b;
  // Times out of insertion order; two events share time 5.
  for (double t : {3.0, 1.0, 5.0, 5.0, 4.0}) {
    b.events.push_back(
        {1, t, "state",
         "t=" + std::to_string(static_cast<int>(t)) + "#" + std::to_string(b.events.size())});
  }
  b.events.push_back({2, 100, "state", "other job"});
  ASSERT_TRUE(store->Apply(b).ok());

  auto messages = [&](int limit) {
    std::vector<std::string> out;
    std::vector<EventRecord> events = store->Events(1, limit).value();
    for (const EventRecord& e : events) out.push_back(e.message);
    return out;
  };
  // Submission(1)'s event is at 1700000001, the newest.
  EXPECT_EQ(messages(3), (std::vector<std::string>{"t=5#2", "t=5#3", "submitted"}));
  EXPECT_EQ(messages(100),
            (std::vector<std::string>{"t=1#1", "t=3#0", "t=4#4", "t=5#2", "t=5#3", "submitted"}));
  EXPECT_TRUE(messages(0).empty());
  EXPECT_TRUE(store->Events(3, 10).value().empty());
  EXPECT_EQ(store->Events(1, -1).status().code(), StatusCode::kInvalidArgument);
}

TEST(SqliteStoreTest, SamplesAreReadBySeriesAndResolutionAndPrunedByAge) {
  TempDir dir;
  auto store = OpenOrDie(dir.path());
  WriteBatch b;
  for (double t : {30.0, 10.0, 20.0}) b.samples.push_back({"cluster", t, 10, {{"gpus_used", t / 10}}});
  b.samples.push_back({"cluster", 0, 300, {{"gpus_used", 1.5}}});
  b.samples.push_back({"job:7", 20, 10, {{"loss", 0.25}, {"samples_per_s", 1e3}}});
  ASSERT_TRUE(store->Apply(b).ok());
  auto times = [&](const std::string& series, double resolution, double since, int limit) {
    std::vector<double> out;
    Result<std::vector<SampleRecord>> rows = store->Samples(series, resolution, since, limit);
    if (rows.ok()) {
      for (const SampleRecord& r : *rows) out.push_back(r.time);
    }
    return out;
  };
  EXPECT_EQ(times("cluster", 10, 0, 100), (std::vector<double>{10, 20, 30}));
  EXPECT_EQ(times("cluster", 10, 0, 2), (std::vector<double>{20, 30}));  // the newest
  EXPECT_EQ(times("cluster", 10, 15, 100), (std::vector<double>{20, 30}));
  EXPECT_EQ(times("cluster", 300, 0, 100), (std::vector<double>{0}));
  Result<std::vector<SampleRecord>> job = store->Samples("job:7", 10, 0, 10);
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(*job, (std::vector<SampleRecord>{{"job:7", 20, 10, {{"loss", 0.25}, {"samples_per_s", 1e3}}}}));
  EXPECT_TRUE(store->Samples("job:8", 10, 0, 10).value().empty());
  EXPECT_EQ(store->Samples("cluster", 10, 0, -1).status().code(), StatusCode::kInvalidArgument);

  // The same key again replaces; a prune drops only its resolution's older rows, before the batch's samples.
  WriteBatch next;
  next.pruned_samples.push_back({10, 25});
  next.samples.push_back({"cluster", 20, 10, {{"gpus_used", 9}}});
  ASSERT_TRUE(store->Apply(next).ok());
  std::vector<SampleRecord> left = store->Samples("cluster", 10, 0, 100).value();
  ASSERT_EQ(left.size(), 2u);
  EXPECT_EQ(left[0].values.at("gpus_used"), 9);
  EXPECT_EQ(times("cluster", 300, 0, 100), (std::vector<double>{0}));
  EXPECT_TRUE(store->Samples("job:7", 10, 0, 10).value().empty());
}

TEST(SqliteStoreTest, ConcurrentApplyLosesNothingAndKeepsPerThreadOrder) {
  TempDir dir;
  auto store = OpenOrDie(dir.path());
  constexpr int kThreads = 8;
  constexpr int kPerThread = 150;
  // Each thread also logs to its own job, all at time 0: Events then lists
  // them in commit order, which must be the thread's Apply order.
  for (int t = 0; t < kThreads; ++t) ASSERT_TRUE(store->Apply(Submission(900000 + t)).ok());
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        WriteBatch b = Submission(static_cast<JobId>(t * 1000 + i + 1));
        b.next_job_id.reset();
        b.events.push_back({static_cast<JobId>(900000 + t), 0, "seq", std::to_string(i)});
        if (!store->Apply(b).ok()) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);

  Snapshot s = LoadOrDie(*store);
  std::set<JobId> ids;
  for (const JobRecord& j : s.jobs) ids.insert(j.id);
  EXPECT_EQ(ids.size(), static_cast<size_t>(kThreads * kPerThread + kThreads));
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kPerThread; ++i) EXPECT_TRUE(ids.count(t * 1000 + i + 1));
    std::vector<EventRecord> events = store->Events(900000 + t, 1000).value();
    ASSERT_EQ(events.size(), static_cast<size_t>(kPerThread + 1));
    for (int i = 0; i < kPerThread; ++i) EXPECT_EQ(events[i].message, std::to_string(i));
  }
}

// Holds the database's write lock from a second connection while `batches`
// are queued one by one, so that the committer, stuck in its busy wait, finds
// them all queued when the lock goes. `sql` runs under the lock first.
std::vector<Status> ApplyWhileWriterIsBlocked(SqliteStore& store, const std::string& db_path,
                                              const std::vector<WriteBatch>& batches,
                                              const std::string& sql = "") {
  sqlite3* other = nullptr;
  EXPECT_EQ(sqlite3_open(db_path.c_str(), &other), SQLITE_OK);
  EXPECT_TRUE(Exec(other, "BEGIN IMMEDIATE").ok());
  if (!sql.empty()) {
    EXPECT_TRUE(Exec(other, sql).ok());
  }
  std::vector<Status> results(batches.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < batches.size(); ++i) {
    threads.emplace_back([&, i] { results[i] = store.Apply(batches[i]); });
    while (store.pending() < i + 1) std::this_thread::yield();
  }
  EXPECT_TRUE(Exec(other, "COMMIT").ok());
  for (auto& th : threads) th.join();
  sqlite3_close(other);
  return results;
}

TEST(SqliteStoreTest, BatchBreakingAConstraintFailsAloneInItsGroup) {
  TempDir dir;
  auto store = OpenOrDie(dir.path());
  WriteBatch bad = Submission(3);
  bad.workers.push_back({999, 0, "h", {0}, 1, 0, api::WorkerState::kAssigned, 0});  // job 999 does not exist
  std::vector<Status> r = ApplyWhileWriterIsBlocked(
      *store, dir.db(), {Submission(1), Submission(2), bad, Submission(4)});

  EXPECT_TRUE(r[0].ok() && r[1].ok() && r[3].ok());
  EXPECT_EQ(r[2].code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r[2].message().find("workers[0] (job 999, rank 0)"), std::string::npos)
      << r[2].message();
  EXPECT_NE(r[2].message().find("FOREIGN KEY"), std::string::npos) << r[2].message();
  Snapshot s = LoadOrDie(*store);
  ASSERT_EQ(s.jobs.size(), 3u);  // job 3 and its event rolled back with their batch
  EXPECT_EQ(s.jobs[0].id, 1u);
  EXPECT_EQ(s.jobs[1].id, 2u);
  EXPECT_EQ(s.jobs[2].id, 4u);
  EXPECT_TRUE(store->Events(3, 10).value().empty());
  EXPECT_EQ(s.next_job_id, 5u);
}

TEST(SqliteStoreTest, BatchAbortingTheTransactionFailsAloneInItsGroup) {
  TempDir dir;
  auto store = OpenOrDie(dir.path());
  // RAISE(ROLLBACK) aborts the whole group transaction, not only the batch's
  // savepoint: the store must retry each batch of the group on its own.
  WriteBatch bad = Submission(3);
  bad.jobs[0].name = "poison";
  std::vector<Status> r = ApplyWhileWriterIsBlocked(
      *store, dir.db(), {Submission(1), Submission(2), bad, Submission(4)},
      "CREATE TRIGGER poison BEFORE INSERT ON jobs WHEN NEW.name = 'poison' "
      "BEGIN SELECT RAISE(ROLLBACK, 'poisoned job'); END");

  EXPECT_TRUE(r[0].ok() && r[1].ok() && r[3].ok());
  EXPECT_EQ(r[2].code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r[2].message().find("jobs[0] (id 3): poisoned job"), std::string::npos)
      << r[2].message();
  Snapshot s = LoadOrDie(*store);
  ASSERT_EQ(s.jobs.size(), 3u);
  EXPECT_EQ(s.jobs[2].id, 4u);
  EXPECT_TRUE(store->Events(3, 10).value().empty());
}

// Halting: the batches behind a failed one were built on it (the server's
// are), so none of them commits until the caller has reloaded and resumes.
TEST(SqliteStoreTest, HaltingStoreFailsEveryBatchBehindAFailureUntilResume) {
  TempDir dir;
  auto store = OpenOrDie(dir.path(), {.group_commit = true, .halt_after_failure = true});
  WriteBatch bad = Submission(3);
  bad.workers.push_back({999, 0, "h", {0}, 1, 0, api::WorkerState::kAssigned, 0});  // job 999 does not exist
  std::vector<Status> r = ApplyWhileWriterIsBlocked(
      *store, dir.db(), {Submission(1), Submission(2), bad, Submission(4)});
  EXPECT_TRUE(r[0].ok() && r[1].ok());
  EXPECT_EQ(r[2].code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r[3].code(), StatusCode::kUnavailable);
  EXPECT_NE(r[3].message().find("a change queued before it failed"), std::string::npos) << r[3].message();
  // Later batches fail too, until Resume.
  Status later = store->Apply(Submission(5));
  EXPECT_EQ(later.code(), StatusCode::kUnavailable);
  EXPECT_NE(later.message().find("halted until Resume()"), std::string::npos) << later.message();
  Snapshot s = LoadOrDie(*store);
  ASSERT_EQ(s.jobs.size(), 2u);
  store->Resume();
  EXPECT_TRUE(store->Apply(Submission(6)).ok());
  EXPECT_EQ(LoadOrDie(*store).jobs.size(), 3u);
}

TEST(SqliteStoreTest, InvalidUtf8InJsonFieldsIsRejected) {
  TempDir dir;
  auto store = OpenOrDie(dir.path());
  WriteBatch b = Submission(1);
  b.jobs[0].argv.push_back("\xff\xfe");
  Status st = store->Apply(b);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(st.message().rfind("jobs[0].argv: ", 0), 0u) << st.message();
  EXPECT_TRUE(LoadOrDie(*store).jobs.empty());
}

TEST(SqliteStoreTest, RefusesADatabaseWithANewerSchema) {
  TempDir dir;
  { OpenOrDie(dir.path()); }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(dir.db().c_str(), &db), SQLITE_OK);
  ASSERT_TRUE(
      Exec(db, "UPDATE schema_version SET version = " + std::to_string(CurrentSchemaVersion() + 1))
          .ok());
  sqlite3_close(db);

  Result<std::unique_ptr<Store>> s = OpenSqliteStore(dir.path());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.status().message(),
            dir.db() + ": database schema version " + std::to_string(CurrentSchemaVersion() + 1) +
                " is newer than this drover's " + std::to_string(CurrentSchemaVersion()) +
                "; it was written by a newer drover: run that version, or point this one at "
                "another data directory");
}

TEST(SqliteStoreTest, CreatesAPrivateDirectory) {
  TempDir dir;
  std::string nested = dir.path() + "/a/b/";
  auto store = OpenOrDie(nested);
  struct stat st {};
  ASSERT_EQ(::stat((dir.path() + "/a/b").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  EXPECT_TRUE(fs::exists(dir.path() + "/a/b/drover.db"));
}

TEST(SqliteStoreTest, ReportsAFileThatIsNotADatabase) {
  TempDir dir;
  std::ofstream(dir.db()) << std::string(8192, 'x');
  Result<std::unique_ptr<Store>> s = OpenSqliteStore(dir.path());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kInternal);
  EXPECT_NE(s.status().message().find(dir.db()), std::string::npos) << s.status().message();
}

TEST(SqliteStoreTest, AcknowledgedBatchesSurviveKillNine) {
  TempDir dir;
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // The child: 4 threads submit forever, writing each acknowledged id
    // (8 bytes: atomic on a pipe) after Apply returns.
    ::close(fds[0]);
    Result<std::unique_ptr<SqliteStore>> store = SqliteStore::Open(dir.path());
    if (!store.ok()) ::_exit(2);
    for (int t = 0; t < 4; ++t) {
      std::thread([&, t] {
        for (JobId i = 1;; ++i) {
          JobId id = static_cast<JobId>(t) * 1000000 + i;
          if (!(*store)->Apply(Submission(id)).ok()) ::_exit(3);
          if (::write(fds[1], &id, sizeof id) != sizeof id) ::_exit(4);
        }
      }).detach();
    }
    for (;;) ::pause();
  }
  ::close(fds[1]);
  std::vector<JobId> acked;
  JobId id;
  bool killed = false;
  while (::read(fds[0], &id, sizeof id) == sizeof id) {
    acked.push_back(id);
    if (!killed && acked.size() >= 600) {
      ::kill(pid, SIGKILL);  // in the middle of later batches
      killed = true;
    }
  }
  ::close(fds[0]);
  int wstatus = 0;
  ASSERT_EQ(::waitpid(pid, &wstatus, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGKILL)
      << "child exited early with status " << wstatus;

  auto store = OpenOrDie(dir.path());
  Snapshot s = LoadOrDie(*store);
  std::set<JobId> stored;
  for (const JobRecord& j : s.jobs) stored.insert(j.id);
  EXPECT_GE(stored.size(), acked.size());
  size_t missing = 0;
  for (JobId a : acked) missing += stored.count(a) == 0;
  EXPECT_EQ(missing, 0u) << "of " << acked.size() << " acknowledged";
  EXPECT_EQ(store->Events(acked.back(), 10).value().size(), 1u);
}

}  // namespace
}  // namespace drover::store

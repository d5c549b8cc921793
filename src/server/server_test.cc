// The server in-process over HTTP, with a store that fails on demand: for
// every endpoint that changes state, a failed commit answers 503 and leaves
// memory equal to what a fresh server would load from the store.
#include "server/server.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <atomic>
#include <cstdlib>
#include <future>
#include <set>
#include <thread>

namespace drover::server {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// A store that refuses the batches a predicate picks, as a full disk would.
class FailingStore : public store::Store {
 public:
  explicit FailingStore(std::unique_ptr<store::Store> inner) : inner_(std::move(inner)) {}
  Status Apply(const store::WriteBatch& batch) override {
    if (Refuses(batch)) return Refusal();
    return inner_->Apply(batch);
  }
  // Like the real store, a refusal resolves only after every batch queued before it.
  std::shared_future<Status> ApplyAsync(store::WriteBatch batch) override {
    std::lock_guard<std::mutex> order(order_mu_);
    if (Refuses(batch)) {
      std::shared_future<Status> before = last_;
      last_ = std::async(std::launch::deferred, [before] {
                if (before.valid()) before.wait();
                return Refusal();
              }).share();
    } else {
      last_ = inner_->ApplyAsync(std::move(batch));
    }
    return last_;
  }
  Result<store::Snapshot> Load() override { return inner_->Load(); }
  void Resume() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      halted_ = false;
    }
    inner_->Resume();
  }
  Result<std::vector<store::EventRecord>> Events(JobId job, int limit) override { return inner_->Events(job, limit); }
  Result<std::vector<store::SampleRecord>> Samples(const std::string& series, double resolution, double since,
                                                   int limit) override {
    return inner_->Samples(series, resolution, since, limit);
  }

  //! Refuse the next batch for which `pick` holds (once).
  void FailNext(std::function<bool(const store::WriteBatch&)> pick) {
    std::lock_guard<std::mutex> lock(mu_);
    pick_ = std::move(pick);
    refused_ = 0;
  }
  int refused() {
    std::lock_guard<std::mutex> lock(mu_);
    return refused_;
  }

 private:
  // As the real store halts: after a refusal, every batch until Resume().
  bool Refuses(const store::WriteBatch& b) {
    std::lock_guard<std::mutex> lock(mu_);
    if (halted_) return true;
    if (!pick_ || !pick_(b)) return false;
    pick_ = nullptr;
    ++refused_;
    halted_ = true;
    return true;
  }
  static Status Refusal() { return Unavailable("database or disk is full (injected)"); }
  std::unique_ptr<store::Store> inner_;
  std::mutex mu_;
  std::function<bool(const store::WriteBatch&)> pick_;
  std::mutex order_mu_;
  std::shared_future<Status> last_;
  int refused_ = 0;
  bool halted_ = false;
};

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/drover-server-test-" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::remove_all(dir_);
    ServerOptions opt;
    opt.data_dir = dir_;
    opt.port = 0;
    opt.threads = 8;
    Configure(opt);
    opt.wrap_store = [this](std::unique_ptr<store::Store> inner) {
      auto s = std::make_unique<FailingStore>(std::move(inner));
      store_ = s.get();
      return s;
    };
    server_ = std::make_unique<Server>(opt);
    thread_ = std::thread([this] { run_status_ = server_->Run(); });
    for (int i = 0; i < 500 && server_->port() == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    ASSERT_GT(server_->port(), 0) << run_status_.ToString();
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
    admin_ = ReadToken("admin.token");
    join_ = ReadToken("join.token");
  }
  void TearDown() override {
    server_->Stop();
    thread_.join();
    if (!HasFailure()) fs::remove_all(dir_);
  }

  virtual void Configure(ServerOptions&) {}

  std::string ReadToken(const std::string& file) {
    std::ifstream in(dir_ + "/" + file);
    std::string t;
    std::getline(in, t);
    return t;
  }

  // method, path, body, token ("" for the admin's) -> status and JSON body.
  std::pair<int, json> Call(const std::string& method, const std::string& path, const std::string& body = "",
                            std::string token = "") {
    httplib::Headers h = {{"Authorization", "Bearer " + (token.empty() ? admin_ : token)}};
    httplib::Result r = method == "GET"     ? client_->Get(path, h)
                        : method == "POST"  ? client_->Post(path, h, body, "application/json")
                        : method == "PUT"   ? client_->Put(path, h, body, "application/json")
                        : method == "PATCH" ? client_->Patch(path, h, body, "application/json")
                                            : client_->Delete(path, h);
    if (!r) return {0, json()};
    return {r->status, json::parse(r->body, nullptr, false)};
  }

  // The call fails with 503 when `pick` refuses its batch, memory then equals
  // the store, and the same call succeeds once the store works again.
  void ExpectFailedCommitChangesNothing(const std::string& what, std::function<bool(const store::WriteBatch&)> pick,
                                        std::function<int()> call, int ok_status) {
    SCOPED_TRACE(what);
    store_->FailNext(std::move(pick));
    EXPECT_EQ(call(), 503);
    EXPECT_EQ(store_->refused(), 1) << "the injected failure did not hit this call's commit";
    EXPECT_EQ(server_->DriftFromStore(), "");
    EXPECT_EQ(call(), ok_status);
    EXPECT_EQ(server_->DriftFromStore(), "");
  }

  std::string dir_;
  std::unique_ptr<Server> server_;
  std::thread thread_;
  Status run_status_;
  FailingStore* store_ = nullptr;
  std::unique_ptr<httplib::Client> client_;
  std::string admin_, join_;
};

const char* kPlan = "consumers:\n  - name: a\n    owned: 2\n  - name: b\n    owned: 2\n";
const char* kJob = "name: j\nconsumer: /a\nworkers: {min: 1, max: 2}\ncommand: [sleep, \"100\"]\n";

// A data dir that issued a secret and tokens but has lost its database (or
// holds an empty one) is refused, not started afresh with new tokens.
TEST(ServerStartTest, RefusesADataDirWithSecretsButNoDatabase) {
  std::string dir = ::testing::TempDir() + "/drover-server-test-lost-db";
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ofstream(dir + "/secret") << "s_kept\n";
  ServerOptions opt;
  opt.data_dir = dir;
  opt.port = 0;
  Status st = Server(opt).Run();
  EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition) << st.ToString();
  EXPECT_NE(st.message().find("holds secret but no drover.db"), std::string::npos) << st.message();
  EXPECT_FALSE(fs::exists(dir + "/admin.token"));  // nothing was issued
  std::ofstream(dir + "/drover.db").flush();      // truncated to 0 bytes
  st = Server(opt).Run();
  EXPECT_NE(st.message().find("holds secret but an empty drover.db"), std::string::npos) << st.message();
  fs::remove(dir + "/secret");
  fs::remove(dir + "/drover.db");
  // Positive control: an empty data dir is a first start.
  Server fresh(opt);
  std::thread run([&] { st = fresh.Run(); });
  for (int i = 0; i < 500 && fresh.port() == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_GT(fresh.port(), 0);
  fresh.Stop();
  run.join();
  EXPECT_TRUE(st.ok()) << st.ToString();
  EXPECT_TRUE(fs::exists(dir + "/admin.token"));
  fs::remove_all(dir);
}

TEST_F(ServerTest, EveryFailedCommitLeavesMemoryAsTheStoreHasIt) {
  auto status = [this](const std::string& m, const std::string& p, const std::string& b = "",
                       const std::string& t = "") { return Call(m, p, b, t).first; };
  ExpectFailedCommitChangesNothing(
      "plan apply", [](const store::WriteBatch& b) { return b.plan_yaml.has_value(); },
      [&] { return status("PUT", "/api/v1/plan", kPlan); }, 200);

  std::string token;
  ExpectFailedCommitChangesNothing(
      "user create", [](const store::WriteBatch& b) { return !b.users.empty(); },
      [&] {
        auto [code, body] = Call("POST", "/api/v1/users", R"({"name":"alice","consumers":["/a"]})");
        if (code == 201) token = body["token"];
        return code;
      },
      201);
  ExpectFailedCommitChangesNothing(
      "token create", [](const store::WriteBatch& b) { return !b.tokens.empty(); },
      [&] { return status("POST", "/api/v1/tokens", "{}", token); }, 201);
  ExpectFailedCommitChangesNothing(
      "token revoke", [](const store::WriteBatch& b) { return !b.revoked_tokens.empty(); },
      [&] { return status("POST", "/api/v1/tokens/revoke", json{{"token", token}}.dump(), admin_); }, 200);
  EXPECT_EQ(status("GET", "/api/v1/jobs", "", token), 401);  // the revocation held
  ASSERT_EQ(status("POST", "/api/v1/users", R"({"name":"bob","consumers":["/b"]})"), 201);
  ExpectFailedCommitChangesNothing(
      "user delete", [](const store::WriteBatch& b) { return !b.removed_users.empty(); },
      [&] { return status("DELETE", "/api/v1/users/bob"); }, 200);

  // An agent registers, before any job exists.
  std::string agent;
  ExpectFailedCommitChangesNothing(
      "register", [](const store::WriteBatch& b) { return !b.hosts.empty() && !b.tokens.empty(); },
      [&] {
        auto [code, body] = Call("POST", "/api/v1/agent/register", R"({"name":"h1","gpu_slots":2,"cpus":8,"memory_mib":16384})", join_);
        if (code == 200) agent = body["agent_token"];
        return code;
      },
      200);

  // The scheduler's decision to start the first job fails to commit once; it starts it on a later cycle.
  store_->FailNext([](const store::WriteBatch& b) { return !b.workers.empty() && b.workers[0].state == WorkerState::kAssigned; });
  ASSERT_EQ(status("POST", "/api/v1/jobs", kJob), 201);
  const std::string job = "/api/v1/jobs/1";
  json workers;
  for (int i = 0; i < 300 && workers.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the scheduler's next cycle, within 1 s
    workers = Call("GET", job).second["worker_list"];
  }
  ASSERT_FALSE(workers.empty()) << Call("GET", "/api/v1/jobs").second.dump();
  EXPECT_EQ(store_->refused(), 1) << "the scheduler's commit was not refused";
  EXPECT_EQ(server_->DriftFromStore(), "");

  // A submission whose commit failed leaves no job behind (it used to linger as CANCELLED).
  ExpectFailedCommitChangesNothing(
      "submit", [](const store::WriteBatch& b) { return !b.jobs.empty() && b.jobs[0].state == kPending; },
      [&] { return status("POST", "/api/v1/jobs", kJob); }, 201);
  EXPECT_EQ(Call("GET", "/api/v1/jobs").second["jobs"].size(), 2u) << Call("GET", "/api/v1/jobs").second.dump();

  ExpectFailedCommitChangesNothing(
      "update", [](const store::WriteBatch& b) { return !b.events.empty() && b.events[0].type == "update"; },
      [&] { return status("PATCH", job, R"({"priority": 5})"); }, 200);

  // The agent reports the workers running: a sync whose commit fails.
  json report = json::array();
  for (const json& w : workers) {
    report.push_back({{"job", 1}, {"rank", w["rank"]}, {"generation", w["generation"]}, {"pid", 100},
                      {"state", "running"}});
  }
  ExpectFailedCommitChangesNothing(
      "sync", [](const store::WriteBatch& b) { return !b.workers.empty() && b.workers[0].state == WorkerState::kRunning; },
      [&] { return status("POST", "/api/v1/agent/sync", json{{"workers", report}, {"wait_ms", 1000}}.dump(), agent); },
      200);

  ExpectFailedCommitChangesNothing(
      "cancel", [](const store::WriteBatch& b) { return !b.jobs.empty() && b.jobs[0].state == kCancelled; },
      [&] { return status("POST", job + "/cancel", "{}"); }, 200);
  EXPECT_EQ(Call("GET", job).second["state"], "CANCELLED");
}

TEST_F(ServerTest, WrongMethodsUnknownPathsAndBadParametersGetJsonErrors) {
  ASSERT_EQ(Call("PUT", "/api/v1/plan", kPlan).first, 200);
  auto [code, body] = Call("DELETE", "/api/v1/jobs");
  EXPECT_EQ(code, 405);
  EXPECT_NE(body.value("error", "").find("it takes GET, POST"), std::string::npos) << body.dump();
  std::tie(code, body) = Call("GET", "/api/v1/nosuch");
  EXPECT_EQ(code, 404);
  EXPECT_NE(body.value("error", "").find("no such endpoint"), std::string::npos) << body.dump();
  EXPECT_EQ(Call("GET", "/api/v1/jobs/abc").first, 404);
  EXPECT_EQ(Call("GET", "/api/v1/jobs?state=BOGUS").first, 400);
  EXPECT_EQ(Call("GET", "/api/v1/jobs?state=running").first, 200);  // any case
  EXPECT_EQ(Call("GET", "/api/v1/jobs?consumer=/nosuch").first, 404);
  EXPECT_EQ(Call("GET", "/api/v1/jobs?limit=ten").first, 400);
  ASSERT_EQ(Call("POST", "/api/v1/jobs", kJob).first, 201);
  EXPECT_EQ(Call("GET", "/api/v1/jobs/1/logs?worker=-1").first, 400);
  EXPECT_EQ(Call("GET", "/api/v1/jobs/1/logs?worker=999").first, 404);
  EXPECT_EQ(Call("PATCH", "/api/v1/jobs/1", R"({"priority": 2147483647})").first, 400);
  EXPECT_EQ(Call("PATCH", "/api/v1/jobs/1", R"({"workers": {"min": 1, "max": 100000000}})").first, 400);
  EXPECT_EQ(Call("PATCH", "/api/v1/jobs/1", R"({"workers": {"min": 1, "max": 4294967297}})").first, 400);
  EXPECT_EQ(Call("POST", "/api/v1/users", R"({"name":"bob"})").first, 201);
  EXPECT_EQ(Call("POST", "/api/v1/users", R"({"name":"bob","role":"admin"})").first, 409);
  // Deleting a user revokes their tokens; an admin may not delete themself.
  auto [made, carol] = Call("POST", "/api/v1/users", R"({"name":"carol","consumers":["/a"]})");
  ASSERT_EQ(made, 201);
  EXPECT_EQ(Call("GET", "/api/v1/tokens", "", carol["token"]).second["tokens"].size(), 1u);
  EXPECT_EQ(Call("GET", "/api/v1/users").second["users"].size(), 3u);  // admin, bob, carol
  EXPECT_EQ(Call("DELETE", "/api/v1/users/carol").first, 200);
  EXPECT_EQ(Call("GET", "/api/v1/jobs", "", carol["token"]).first, 401);
  EXPECT_EQ(Call("DELETE", "/api/v1/users/carol").first, 404);
  EXPECT_EQ(Call("DELETE", "/api/v1/users/admin").first, 409);
  EXPECT_EQ(server_->DriftFromStore(), "");
}


// -- the API against its document ---------------------------------------------

// Where `v` breaks `schema` of the document `doc` ("" if nowhere): types,
// required fields, nullability, through $ref, allOf, properties and items.
std::string Violation(const YAML::Node& doc, YAML::Node schema, const json& v, const std::string& at) {
  if (schema["$ref"]) {
    std::string ref = schema["$ref"].as<std::string>();  // #/components/schemas/Name
    schema = doc["components"]["schemas"][ref.substr(ref.rfind('/') + 1)];
    if (!schema) return at + ": the document has no " + ref;
  }
  if (schema["allOf"]) {
    for (const auto& part : schema["allOf"]) {
      std::string why = Violation(doc, part, v, at);
      if (!why.empty()) return why;
    }
    return "";
  }
  if (v.is_null()) return schema["nullable"] && schema["nullable"].as<bool>() ? "" : at + ": null, not nullable";
  std::string type = schema["type"] ? schema["type"].as<std::string>() : "";
  bool ok = type.empty() || (type == "object" && v.is_object()) || (type == "array" && v.is_array()) ||
            (type == "string" && v.is_string()) || (type == "integer" && v.is_number_integer()) ||
            (type == "number" && v.is_number()) || (type == "boolean" && v.is_boolean());
  if (!ok) return at + ": " + v.dump().substr(0, 80) + " is not " + type;
  if (v.is_object()) {
    for (const auto& r : schema["required"]) {
      if (!v.contains(r.as<std::string>())) return at + ": required field " + r.as<std::string>() + " is missing";
    }
    for (const auto& prop : schema["properties"]) {
      std::string name = prop.first.as<std::string>();
      if (v.contains(name)) {
        std::string why = Violation(doc, prop.second, v[name], at + "." + name);
        if (!why.empty()) return why;
      }
    }
  }
  if (v.is_array() && schema["items"]) {
    for (size_t i = 0; i < v.size(); ++i) {
      std::string why = Violation(doc, schema["items"], v[i], at + "[" + std::to_string(i) + "]");
      if (!why.empty()) return why;
    }
  }
  return "";
}

// Every operation the server serves is documented and every documented one
// served; every GET answers 200 with what its schema requires.
TEST_F(ServerTest, AGetAnswersNotModifiedUntilWhatItShowsChanges) {
  auto get = [&](const std::string& tag) {
    httplib::Headers h = {{"Authorization", "Bearer " + admin_}};
    if (!tag.empty()) h.emplace("If-None-Match", tag);
    return client_->Get("/api/v1/hosts", h);
  };
  httplib::Result first = get("");
  ASSERT_TRUE(first);
  const std::string tag = first->get_header_value("ETag");
  ASSERT_FALSE(tag.empty());
  httplib::Result same = get(tag);
  ASSERT_TRUE(same);
  EXPECT_EQ(same->status, 304);
  EXPECT_EQ(same->body, "");
  httplib::Result other = get("\"0000000000000000\"");  // the control: another tag gets the body
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 200);
  EXPECT_EQ(other->body, first->body);
  ASSERT_EQ(Call("POST", "/api/v1/agent/register", R"({"name":"h9","gpu_slots":1,"cpus":1,"memory_mib":1024})", join_)
                .first,
            200);
  httplib::Result changed = get(tag);
  ASSERT_TRUE(changed);
  EXPECT_EQ(changed->status, 200);
  EXPECT_NE(changed->get_header_value("ETag"), tag);
  // Errors carry no tag.
  httplib::Result missing = client_->Get("/api/v1/jobs/99", {{"Authorization", "Bearer " + admin_}});
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_FALSE(missing->has_header("ETag"));
}

TEST_F(ServerTest, ServesExactlyTheDocumentedOperationsWithTheirSchemas) {
  YAML::Node doc = YAML::LoadFile(DROVER_OPENAPI);
  std::set<std::string> documented, served;
  for (const auto& path : doc["paths"]) {
    for (const auto& op : path.second) {
      std::string method = op.first.as<std::string>();
      if (method == "parameters") continue;
      for (auto& c : method) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      documented.insert(method + " " + path.first.as<std::string>());
    }
  }
  for (const auto& op : server_->Operations()) served.insert(op);
  for (const auto& op : served) EXPECT_TRUE(documented.count(op)) << op << " is served but not documented";
  for (const auto& op : documented) EXPECT_TRUE(served.count(op)) << op << " is documented but not served";

  // A cluster with something in every list.
  ASSERT_EQ(Call("PUT", "/api/v1/plan", kPlan).first, 200);
  ASSERT_EQ(Call("POST", "/api/v1/users", R"({"name":"alice","consumers":["/a"]})").first, 201);
  ASSERT_EQ(Call("POST", "/api/v1/agent/register", R"({"name":"h1","gpu_slots":2,"cpus":8,"memory_mib":16384})", join_)
                .first,
            200);
  ASSERT_EQ(Call("POST", "/api/v1/jobs", kJob).first, 201);
  for (int i = 0; i < 300 && Call("GET", "/api/v1/jobs/1").second["worker_list"].empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the scheduler's next cycle
  }
  ASSERT_EQ(Call("PUT", "/api/v1/jobs/1/kv/k", "v").first, 200);
  ASSERT_EQ(Call("POST", "/api/v1/jobs/1/metrics", R"({"epoch": 1, "acc": 0.5})").first, 201);
  ASSERT_EQ(Call("POST", "/api/v1/experiments",
                 "name: e\nconsumer: /a\nsearch: {algorithm: random, metric: acc, goal: maximize, max_trials: 2}\n"
                 "parameters: {lr: {type: log, min: 0.001, max: 0.1}}\ntrial: {command: [sleep, \"${params.lr}\"]}\n")
                .first,
            201);
  for (int i = 0; i < 300 && Call("GET", "/api/v1/experiments/1").second["trials"].empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the scheduler's next cycle submits the trials
  }
  // A deployment at zero replicas, named like the host so "{name}" fits both routes.
  ASSERT_EQ(Call("POST", "/api/v1/deployments",
                 "name: h1\nconsumer: /a\nmodel: {path: /models/m.pt, input: {shape: [4]}}\nreplicas: {min: 0, max: 2}\n")
                .first,
            201);

  int checked = 0;
  for (const auto& path : doc["paths"]) {
    YAML::Node get = path.second["get"];
    if (!get) continue;
    std::string route = path.first.as<std::string>(), url = route;
    for (auto [name, value] : {std::pair{"{id}", "1"}, {"{key}", "k"}, {"{rank}", "0"}, {"{name}", "h1"}, {"{file}", "app.js"}}) {
      if (size_t at = url.find(name); at != std::string::npos) url.replace(at, std::string(name).size(), value);
    }
    httplib::Result r = client_->Get(url, {{"Authorization", "Bearer " + admin_}});
    ASSERT_TRUE(r) << url;
    EXPECT_EQ(r->status, 200) << url << ": " << r->body;
    // The answer's media type is one the document gives.
    std::set<std::string> types;
    for (const auto& media : get["responses"]["200"]["content"]) types.insert(media.first.as<std::string>());
    EXPECT_TRUE(types.count(r->get_header_value("Content-Type"))) << url << " answers " << r->get_header_value("Content-Type");
    YAML::Node schema = get["responses"]["200"]["content"]["application/json"]["schema"];
    if (!schema) continue;  // text: logs, metrics, health, raw values
    json body = json::parse(r->body, nullptr, false);
    EXPECT_EQ(Violation(doc, schema, body, route), "") << r->body;
    ++checked;
  }
  EXPECT_GE(checked, 8);
  // The check bites: a field the schema requires, taken away, is named.
  json hosts = Call("GET", "/api/v1/hosts").second;
  hosts["hosts"][0].erase("drained");
  EXPECT_EQ(Violation(doc, doc["paths"]["/api/v1/hosts"]["get"]["responses"]["200"]["content"]["application/json"]["schema"],
                      hosts, "hosts"),
            "hosts.hosts[0]: required field drained is missing");
}


// One user cannot fill the server with jobs: past --max-jobs-per-user jobs not
// ended, a submission gets 429 and changes nothing; ending one makes room;
// admins are not counted.
class JobQuotaTest : public ServerTest {
 protected:
  void Configure(ServerOptions& opt) override {
    opt.max_active_jobs_per_user = 3;
    opt.max_kv_bytes_per_user = 3 << 20;
  }
};

TEST_F(JobQuotaTest, AUserPastTheQuotaIsRefusedAndEndingAJobMakesRoom) {
  ASSERT_EQ(Call("PUT", "/api/v1/plan", kPlan).first, 200);
  auto [made, user] = Call("POST", "/api/v1/users", R"({"name":"ann","consumers":["/a"]})");
  ASSERT_EQ(made, 201);
  const std::string ann = user["token"];
  std::vector<uint64_t> ids;
  for (int i = 0; i < 3; ++i) {
    auto [status, body] = Call("POST", "/api/v1/jobs", kJob, ann);
    ASSERT_EQ(status, 201) << body.dump();
    ids.push_back(body["id"]);
  }
  auto [refused, why] = Call("POST", "/api/v1/jobs", kJob, ann);
  EXPECT_EQ(refused, 429);
  EXPECT_NE(why.value("error", "").find("already has 3 jobs that have not ended"), std::string::npos) << why.dump();
  EXPECT_EQ(Call("GET", "/api/v1/jobs?user=ann", "", ann).second["jobs"].size(), 3u);  // nothing was made
  EXPECT_EQ(Call("POST", "/api/v1/jobs", kJob).first, 201);  // the admin is not counted
  ASSERT_EQ(Call("POST", "/api/v1/jobs/" + std::to_string(ids[0]) + "/cancel", "{}", ann).first, 200);
  EXPECT_EQ(Call("POST", "/api/v1/jobs", kJob, ann).first, 201);

  // Key-value memory: 3 MiB for all of ann's jobs together (each job alone could hold 64 MiB).
  const std::string mib(1 << 20, 'v');
  auto put = [&](uint64_t job, const std::string& key) {
    return Call("PUT", "/api/v1/jobs/" + std::to_string(job) + "/kv/" + key, mib, ann);
  };
  EXPECT_EQ(put(ids[1], "a").first, 200);
  EXPECT_EQ(put(ids[1], "b").first, 200);
  EXPECT_EQ(put(ids[2], "a").first, 200);
  auto [full, why_kv] = put(ids[2], "b");
  EXPECT_EQ(full, 413);
  EXPECT_NE(why_kv.value("error", "").find("ann's jobs hold 3 MiB"), std::string::npos) << why_kv.dump();
  ASSERT_EQ(Call("POST", "/api/v1/jobs/" + std::to_string(ids[1]) + "/cancel", "{}", ann).first, 200);
  EXPECT_EQ(put(ids[2], "b").first, 200);  // an ended job's store no longer counts

  // Experiments cannot get round the quota: ann has 2 jobs not ended, so her
  // experiment's second trial is refused and the experiment fails, saying why.
  const std::string exp = "name: e\nsearch: {algorithm: random, metric: acc, goal: maximize, max_trials: 4, "
                          "max_parallel: 4}\nparameters: {x: {type: double, min: 0, max: 1}}\n"
                          "trial: {command: [sleep, \"100\"]}\n";
  auto [made_exp, e] = Call("POST", "/api/v1/experiments", exp, ann);
  ASSERT_EQ(made_exp, 201) << e.dump();
  json ended;
  for (int i = 0; i < 300; ++i) {
    ended = Call("GET", "/api/v1/experiments/" + std::to_string(e["id"].get<int64_t>()), "", ann).second;
    if (ended.value("state", "") != "RUNNING") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the scheduler's next cycle
  }
  EXPECT_EQ(ended["state"], "FAILED") << ended.dump();
  EXPECT_NE(ended["reason"].get<std::string>().find("already has 3 jobs that have not ended"), std::string::npos)
      << ended.dump();
  EXPECT_EQ(Call("GET", "/api/v1/jobs?user=ann", "", ann).second["jobs"].size(), 5u);  // 4 by hand + 1 trial
  // And at most 3 experiments running at once (the same limit), each here with one trial.
  json mine = Call("GET", "/api/v1/jobs?user=ann", "", ann).second;  // named: the loop must not outlive it
  for (const json& j : mine["jobs"]) {
    if (j["state"] != "CANCELLED" && j["state"] != "SUCCEEDED" && j["state"] != "FAILED") {
      Call("POST", "/api/v1/jobs/" + std::to_string(j["id"].get<uint64_t>()) + "/cancel", "{}", ann);
    }
  }
  std::string one = exp;
  one.replace(one.find("max_parallel: 4"), 15, "max_parallel: 1");
  for (int i = 0; i < 3; ++i) EXPECT_EQ(Call("POST", "/api/v1/experiments", one, ann).first, 201);
  auto [too_many, why_exp] = Call("POST", "/api/v1/experiments", one, ann);
  EXPECT_EQ(too_many, 429);
  EXPECT_NE(why_exp.value("error", "").find("already has 3 experiments running"), std::string::npos) << why_exp.dump();
  EXPECT_EQ(Call("POST", "/api/v1/experiments", one).first, 201);  // the admin is not counted
}

// The server's clock is injectable, so the heartbeat timeout is checked at
// its boundary without waiting for it: a host is down no earlier than the
// timeout after its last contact, and at the first scheduling cycle after.
class ServerClockTest : public ServerTest {
 protected:
  void Configure(ServerOptions& opt) override {
    opt.heartbeat_timeout = 10;
    opt.clock = [this] { return now_.load(); };
  }
  // Scheduling cycles so far, from /metrics.
  int Cycles() {
    httplib::Result r = client_->Get("/metrics", {{"Authorization", "Bearer " + admin_}});
    if (!r) return -1;
    const std::string key = "drover_scheduling_cycle_seconds_count{} ";
    size_t at = r->body.find(key);
    return at == std::string::npos ? -1 : std::atoi(r->body.c_str() + at + key.size());
  }
  // Returns once two more cycles have run (the scheduler wakes every second).
  void TwoCycles() {
    int start = Cycles();
    for (int i = 0; i < 500 && Cycles() < start + 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    ASSERT_GE(Cycles(), start + 2);
  }
  std::string HostState() { return Call("GET", "/api/v1/hosts").second["hosts"][0]["state"]; }
  std::atomic<double> now_{1000};
};

TEST_F(ServerClockTest, HostIsDownOnlyAfterTheHeartbeatTimeout) {
  ASSERT_EQ(Call("POST", "/api/v1/agent/register", R"({"name":"h1","gpu_slots":2})", join_).first, 200);
  now_ = 1000 + 10 - 0.01;  // just inside the timeout
  TwoCycles();
  EXPECT_EQ(HostState(), "up");
  now_ = 1000 + 10 + 0.01;  // just past it
  TwoCycles();
  EXPECT_EQ(HostState(), "down");
}

}  // namespace
}  // namespace drover::server

#include "train/job_client.h"

#include "common/percent_encode.h"

#include <httplib.h>

#include <algorithm>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "net/http.h"

namespace drover::train {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

// Room above a long poll's own wait for the answer to travel.
constexpr milliseconds kReadSlack{5000};

std::string Getenv(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

Result<int64_t> ParseInt(const std::string& name, const std::string& text) {
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end || errno) return InvalidArgument(name + "='" + text + "' is not an integer");
  return static_cast<int64_t>(v);
}

// Keys are rendezvous names (letters, digits, '/', '_', ...); anything else is escaped.
std::string EscapeKey(const std::string& key) { return PercentEncode(key); }

}  // namespace

Result<WorkerEnv> WorkerEnvFromEnvironment() {
  WorkerEnv env;
  env.server = Getenv("DROVER_SERVER");
  if (env.server.empty()) return NotFound("DROVER_SERVER is not set: not running under drover");
  env.token = Getenv("DROVER_TOKEN");
  if (env.token.empty()) return InvalidArgument("DROVER_SERVER is set but DROVER_TOKEN is not");
  auto job = ParseInt("DROVER_JOB_ID", Getenv("DROVER_JOB_ID"));
  if (!job.ok()) return job.status();
  auto slot = ParseInt("RANK", Getenv("RANK"));
  if (!slot.ok()) return slot.status();
  if (*job <= 0 || *slot < 0) return InvalidArgument("DROVER_JOB_ID must be positive and RANK not negative");
  env.job = static_cast<uint64_t>(*job);
  env.slot = static_cast<int>(*slot);
  env.insecure = Getenv("DROVER_INSECURE") == "1";
  env.ca_cert = Getenv("DROVER_CA_CERT");
  return env;
}

Result<std::unique_ptr<JobClient>> JobClient::Create(const WorkerEnv& env) {
  auto url = net::ParseServerUrl(env.server);
  if (!url.ok()) return url.status();
  auto client = net::NewClient(*url, {env.insecure, env.ca_cert});
  client->set_connection_timeout(std::chrono::seconds(3));
  client->set_write_timeout(std::chrono::seconds(10));
  return std::unique_ptr<JobClient>(new JobClient(env, url->path_prefix, std::move(client)));
}

JobClient::JobClient(WorkerEnv env, std::string prefix, std::unique_ptr<httplib::Client> client)
    : env_(std::move(env)), prefix_(std::move(prefix)), client_(std::move(client)) {}

JobClient::~JobClient() = default;

std::string JobClient::JobPath() const { return prefix_ + "/api/v1/jobs/" + std::to_string(env_.job); }

Result<std::string> JobClient::Call(const std::string& method, const std::string& path, const std::string& body,
                                    const std::string& content_type, milliseconds read_timeout,
                                    const std::string& what) {
  client_->set_read_timeout(read_timeout);
  httplib::Request req;
  req.method = method;
  req.path = path;
  req.headers = {{"Authorization", "Bearer " + env_.token}};
  if (method != "GET" && method != "DELETE") {
    req.body = body;
    req.set_header("Content-Type", content_type);
  }
  httplib::Result res = client_->send(req);
  if (!res) return Unavailable(what + ": " + env_.server + ": " + httplib::to_string(res.error()));
  DROVER_RETURN_IF_ERROR(net::StatusFromHttp(what, res->status, res->body));
  return std::move(res->body);
}

Result<Membership> JobClient::Members(int64_t after, bool ready, milliseconds wait) {
  std::string path = JobPath() + "/members";
  if (after >= 0 || ready) {
    path += "?after=" + std::to_string(std::max<int64_t>(after, 0)) + "&wait_ms=" + std::to_string(wait.count());
    if (ready) path += "&ready=1";
  }
  auto body = Call("GET", path, "", "", wait + kReadSlack, "members of job " + std::to_string(env_.job));
  if (!body.ok()) return body.status();
  auto m = api::DecodeMembership(*body);
  if (!m.ok()) return m.status();
  std::erase_if(m->members, [](const Member& w) { return w.state == api::WorkerState::kExited; });
  std::sort(m->members.begin(), m->members.end(), [](const Member& a, const Member& b) { return a.slot < b.slot; });
  return m;
}

Result<int64_t> JobClient::PostStatus(const WorkerStatus& s) {
  auto res = Call("POST", JobPath() + "/workers/" + std::to_string(env_.slot) + "/status", api::Encode(s),
                  "application/json", kReadSlack, "status of worker " + std::to_string(env_.slot));
  if (!res.ok()) return res.status();
  json j = json::parse(*res, nullptr, false);
  return j.is_object() ? j.value("generation", int64_t{-1}) : int64_t{-1};
}

Status JobClient::Set(const std::string& key, const std::vector<uint8_t>& value) {
  auto res = Call("PUT", JobPath() + "/kv/" + EscapeKey(key), std::string(value.begin(), value.end()),
                  "application/octet-stream", kReadSlack, "set " + key);
  return res.ok() ? Status::Ok() : res.status();
}

Result<std::vector<uint8_t>> JobClient::Get(const std::string& key, milliseconds wait) {
  auto res = Call("GET", JobPath() + "/kv/" + EscapeKey(key) + "?wait_ms=" + std::to_string(wait.count()), "", "",
                  wait + kReadSlack, "get " + key);
  if (!res.ok()) return res.status();
  return std::vector<uint8_t>(res->begin(), res->end());
}

Result<int64_t> JobClient::Add(const std::string& key, int64_t delta) {
  auto res = Call("POST", JobPath() + "/kv/" + EscapeKey(key) + "?add=" + std::to_string(delta), "",
                  "application/json", kReadSlack, "add to " + key);
  if (!res.ok()) return res.status();
  json j = json::parse(*res, nullptr, false);
  if (!j.is_object() || !j.contains("value")) return Internal("add to " + key + ": unexpected answer");
  return j["value"].get<int64_t>();
}

Result<bool> JobClient::Delete(const std::string& key) {
  auto res = Call("DELETE", JobPath() + "/kv/" + EscapeKey(key), "", "", kReadSlack, "delete " + key);
  if (!res.ok()) return res.status();
  json j = json::parse(*res, nullptr, false);
  return j.is_object() && j.value("deleted", false);
}

Result<int64_t> JobClient::NumKeys() {
  auto res = Call("GET", JobPath() + "/kv", "", "", kReadSlack, "count keys");
  if (!res.ok()) return res.status();
  json j = json::parse(*res, nullptr, false);
  if (!j.is_object() || !j.contains("keys")) return Internal("count keys: unexpected answer");
  return j["keys"].get<int64_t>();
}

}  // namespace drover::train

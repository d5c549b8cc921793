#include "agent/protocol.h"

#include <nlohmann/json.hpp>

namespace drover::agent {
namespace {

using nlohmann::json;

json WorkerKeyFields(const WorkerKey& key) {
  return {{"job", key.job}, {"rank", key.rank}, {"generation", key.generation}};
}

// Field readers: each names the field at fault, "sync response: workers[1].argv: ...".
Status Bad(const std::string& where, const std::string& what) {
  return Internal(where + ": " + what);
}

Status ReadUint(const json& obj, const char* field, const std::string& where, uint64_t& out) {
  auto it = obj.find(field);
  if (it == obj.end()) return Bad(where + "." + field, "missing");
  if (!it->is_number_integer() || (!it->is_number_unsigned() && it->get<int64_t>() < 0)) {
    return Bad(where + "." + field, "not a non-negative integer");
  }
  out = it->get<uint64_t>();
  return Status::Ok();
}

Status ReadInt(const json& obj, const char* field, const std::string& where, int& out) {
  auto it = obj.find(field);
  if (it == obj.end()) return Bad(where + "." + field, "missing");
  if (!it->is_number_integer()) return Bad(where + "." + field, "not an integer");
  out = it->get<int>();
  return Status::Ok();
}

Result<DesiredWorker> DecodeDesiredWorker(const json& w, const std::string& where) {
  if (!w.is_object()) return Bad(where, "not an object");
  DesiredWorker out;
  DROVER_RETURN_IF_ERROR(ReadUint(w, "job", where, out.key.job));
  DROVER_RETURN_IF_ERROR(ReadInt(w, "rank", where, out.key.rank));
  DROVER_RETURN_IF_ERROR(ReadUint(w, "generation", where, out.key.generation));
  auto argv = w.find("argv");
  if (argv == w.end() || !argv->is_array() || argv->empty())
    return Bad(where + ".argv", "not a non-empty array");
  for (size_t i = 0; i < argv->size(); ++i) {
    const json& a = (*argv)[i];
    if (!a.is_string()) return Bad(where + ".argv[" + std::to_string(i) + "]", "not a string");
    out.argv.push_back(a.get<std::string>());
  }
  if (auto env = w.find("env"); env != w.end() && !env->is_null()) {
    if (!env->is_object()) return Bad(where + ".env", "not an object");
    for (auto& [k, v] : env->items()) {
      if (!v.is_string()) return Bad(where + ".env." + k, "not a string");
      if (k.empty() || k.find('=') != std::string::npos)
        return Bad(where + ".env." + k, "not a variable name");
      out.env[k] = v.get<std::string>();
    }
  }
  if (auto gpus = w.find("gpus"); gpus != w.end() && !gpus->is_null()) {
    if (!gpus->is_array()) return Bad(where + ".gpus", "not an array");
    for (size_t i = 0; i < gpus->size(); ++i) {
      const json& g = (*gpus)[i];
      if (!g.is_number_integer())
        return Bad(where + ".gpus[" + std::to_string(i) + "]", "not an integer");
      out.gpus.push_back(g.get<int>());
    }
  }
  return out;
}

Result<json> Parse(const std::string& body, const char* what) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Internal(std::string(what) + ": not valid JSON");
  if (!j.is_object()) return Internal(std::string(what) + ": not a JSON object");
  return j;
}

}  // namespace

std::string ToString(const WorkerKey& key) {
  return "job " + std::to_string(key.job) + " rank " + std::to_string(key.rank) + " gen " +
         std::to_string(key.generation);
}

std::string EncodeRegisterRequest(const RegisterRequest& r) {
  json gpus = json::array();
  for (const GpuInfo& g : r.gpus) {
    gpus.push_back(
        {{"index", g.index}, {"uuid", g.uuid}, {"name", g.name}, {"memory_mib", g.memory_mib}});
  }
  json j = {{"name", r.name},
            {"gpus", gpus},
            {"gpu_slots", r.gpu_slots},
            {"cpus", r.cpus},
            {"memory_mib", r.memory_mib},
            {"version", r.version}};
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string EncodeSyncRequest(const SyncRequest& r) {
  json workers = json::array();
  for (const WorkerReport& w : r.workers) {
    json o = WorkerKeyFields(w.key);
    o["pid"] = w.pid;
    if (w.state == WorkerState::kRunning) {
      o["state"] = "running";
    } else if (w.state == WorkerState::kStopping) {
      o["state"] = "stopping";
    } else {
      o["state"] = "exited";
      o["exit_code"] = w.exit_code;
      o["signal"] = w.signal;
    }
    workers.push_back(std::move(o));
  }
  json logs = json::array();
  for (const LogChunk& c : r.logs) {
    json o = WorkerKeyFields(c.key);
    o["offset"] = c.offset;
    o["data"] = c.data;
    logs.push_back(std::move(o));
  }
  json j = {{"host", r.host}, {"wait_ms", r.wait_ms}, {"workers", workers}, {"logs", logs}};
  if (r.leaving) j["leaving"] = true;
  // The shipper sends valid UTF-8 only; replace keeps a bug from throwing here.
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<RegisterResponse> DecodeRegisterResponse(const std::string& body) {
  auto j = Parse(body, "register response");
  if (!j.ok()) return j.status();
  RegisterResponse out;
  auto token = j->find("agent_token");
  if (token == j->end() || !token->is_string() || token->get<std::string>().empty()) {
    return Internal("register response: agent_token: missing or not a non-empty string");
  }
  out.agent_token = token->get<std::string>();
  if (auto host = j->find("host"); host != j->end()) {
    if (!host->is_string()) return Internal("register response: host: not a string");
    out.host = host->get<std::string>();
  }
  if (auto t = j->find("heartbeat_timeout_s"); t != j->end()) {
    if (!t->is_number() || t->get<double>() <= 0) {
      return Internal("register response: heartbeat_timeout_s: not a positive number");
    }
    out.heartbeat_timeout_s = static_cast<int>(t->get<double>());
  }
  return out;
}

Result<SyncResponse> DecodeSyncResponse(const std::string& body) {
  auto j = Parse(body, "sync response");
  if (!j.ok()) return j.status();
  SyncResponse out;
  auto workers = j->find("workers");
  if (workers == j->end() || !workers->is_array())
    return Internal("sync response: workers: missing or not an array");
  for (size_t i = 0; i < workers->size(); ++i) {
    auto w =
        DecodeDesiredWorker((*workers)[i], "sync response: workers[" + std::to_string(i) + "]");
    if (!w.ok()) return w.status();
    out.workers.push_back(std::move(*w));
  }
  if (auto g = j->find("kill_grace_s"); g != j->end() && !g->is_null()) {
    if (!g->is_number() || g->get<double>() < 0)
      return Internal("sync response: kill_grace_s: not a non-negative number");
    out.kill_grace_s = static_cast<int>(g->get<double>());
  }
  return out;
}

}  // namespace drover::agent

#include "master/agent_messages.h"

#include <algorithm>
#include <limits>

#include <nlohmann/json.hpp>

namespace drover::master {
namespace {

using json = nlohmann::json;

Status Bad(const std::string& field, const std::string& what) { return InvalidArgument(field + ": " + what); }

// A non-negative integer field no larger than `max`; absent means `fallback`.
Result<int64_t> Count(const json& o, const char* field, int64_t fallback, int64_t max) {
  if (!o.contains(field)) return fallback;
  const json& v = o[field];
  if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > max) {
    return Bad(field, "expected an integer from 0 to " + std::to_string(max));
  }
  return v.get<int64_t>();
}

}  // namespace

Result<store::HostRecord> DecodeRegistration(const std::string& body) {
  json o = json::parse(body, nullptr, false);
  if (o.is_discarded() || !o.is_object()) return Bad("body", "expected a JSON object");
  if (!o.contains("name") || !o["name"].is_string() || o["name"].get<std::string>().empty() ||
      o["name"].get<std::string>().size() > 253) {
    return Bad("name", "expected a non-empty string of at most 253 characters");
  }
  auto slots = Count(o, "gpu_slots", 0, 1 << 16);
  if (!slots.ok()) return slots.status();
  auto cpus = Count(o, "cpus", 0, 1 << 20);
  if (!cpus.ok()) return cpus.status();
  auto mem = Count(o, "memory_mib", 0, int64_t{1} << 40);
  if (!mem.ok()) return mem.status();
  if (o.contains("gpus") && !o["gpus"].is_array()) return Bad("gpus", "expected a list");
  store::HostRecord h;
  h.name = o["name"];
  h.capacity = {*slots, *cpus * 1000, *mem};
  h.gpus_json = o.contains("gpus") ? o["gpus"].dump() : "[]";
  return h;
}

Result<SyncReport> DecodeSyncReport(const std::string& body) {
  json o = json::parse(body, nullptr, false);
  if (o.is_discarded() || !o.is_object()) return Bad("body", "expected a JSON object");
  SyncReport r;
  auto wait = Count(o, "wait_ms", 1000, std::numeric_limits<int32_t>::max());
  if (!wait.ok()) return wait.status();
  r.wait_ms = static_cast<int>(std::min<int64_t>(*wait, 30000));
  if (o.contains("workers")) {
    if (!o["workers"].is_array()) return Bad("workers", "expected a list");
    for (size_t i = 0; i < o["workers"].size(); ++i) {
      const json& w = o["workers"][i];
      std::string at = "workers[" + std::to_string(i) + "]";
      if (!w.is_object()) return Bad(at, "expected an object");
      auto job = Count(w, "job", -1, std::numeric_limits<int64_t>::max());
      auto rank = Count(w, "rank", -1, 1 << 20);
      auto gen = Count(w, "generation", -1, std::numeric_limits<int64_t>::max());
      auto pid = Count(w, "pid", 0, std::numeric_limits<int32_t>::max());
      auto code = Count(w, "exit_code", 0, 255);
      auto sig = Count(w, "signal", 0, 128);
      for (const auto* f : {&job, &rank, &gen, &pid, &code, &sig}) {
        if (!f->ok()) return Bad(at, f->status().message());
      }
      if (*job < 0 || *rank < 0 || *gen < 0) return Bad(at, "job, rank and generation are required");
      std::string state = w.contains("state") && w["state"].is_string() ? w["state"].get<std::string>() : "";
      if (state != "running" && state != "stopping" && state != "exited") {
        return Bad(at + ".state", "expected running, stopping or exited");
      }
      ReportedWorker rw;
      rw.job = static_cast<JobId>(*job);
      rw.rank = static_cast<int>(*rank);
      rw.generation = *gen;
      rw.pid = static_cast<int>(*pid);
      rw.exited = state == "exited";
      rw.stopping = state == "stopping";
      rw.exit_code = static_cast<int>(*code);
      rw.signal = static_cast<int>(*sig);
      r.workers.push_back(rw);
    }
  }
  if (o.contains("logs")) {
    if (!o["logs"].is_array()) return Bad("logs", "expected a list");
    for (size_t i = 0; i < o["logs"].size(); ++i) {
      const json& l = o["logs"][i];
      std::string at = "logs[" + std::to_string(i) + "]";
      if (!l.is_object() || !l.contains("data") || !l["data"].is_string()) return Bad(at, "expected {job, rank, offset, data}");
      auto job = Count(l, "job", -1, std::numeric_limits<int64_t>::max());
      auto rank = Count(l, "rank", -1, 1 << 20);
      auto off = Count(l, "offset", 0, std::numeric_limits<int64_t>::max());
      for (const auto* f : {&job, &rank, &off}) {
        if (!f->ok()) return Bad(at, f->status().message());
      }
      if (*job < 0 || *rank < 0) return Bad(at, "job and rank are required");
      r.logs.push_back({static_cast<JobId>(*job), static_cast<int>(*rank), static_cast<uint64_t>(*off), l["data"]});
    }
  }
  return r;
}

}  // namespace drover::master

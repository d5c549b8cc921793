#include "server/agent_messages.h"

#include <algorithm>
#include <limits>

#include <nlohmann/json.hpp>

namespace drover::server {
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

// An optional field: absent or null leaves `out` unset.
Status OptionalInt(const json& o, const std::string& at, const char* field, int64_t min, int64_t max,
                   std::optional<int64_t>* out) {
  if (!o.contains(field) || o[field].is_null()) return Status::Ok();
  const json& v = o[field];
  if (!v.is_number_integer() || v.get<int64_t>() < min || v.get<int64_t>() > max) {
    return Bad(at + field, "expected an integer from " + std::to_string(min) + " to " + std::to_string(max));
  }
  *out = v.get<int64_t>();
  return Status::Ok();
}

Status OptionalNumber(const json& o, const std::string& at, const char* field, std::optional<double>* out) {
  if (!o.contains(field) || o[field].is_null()) return Status::Ok();
  if (!o[field].is_number()) return Bad(at + field, "expected a number");
  *out = o[field].get<double>();
  return Status::Ok();
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
  if (o.contains("leaving")) {
    if (!o["leaving"].is_boolean()) return Bad("leaving", "expected true or false");
    r.leaving = o["leaving"].get<bool>();
  }
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

Result<WorkerStatus> DecodeWorkerStatus(const std::string& body) {
  json o = json::parse(body, nullptr, false);
  if (o.is_discarded() || !o.is_object()) return Bad("body", "expected a JSON object");
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  constexpr int64_t kMaxWorkers = 1 << 20;
  WorkerStatus s;
  if (!o.contains("generation") || !o["generation"].is_number_integer()) {
    return Bad("generation", "required: the membership generation the worker has joined, an integer");
  }
  s.generation = o["generation"].get<int64_t>();
  std::optional<int64_t> world_size;
  if (o.contains("ready") && !o["ready"].is_null()) {
    if (!o["ready"].is_boolean()) return Bad("ready", "expected true or false");
    s.ready = o["ready"].get<bool>();
  }
  if (o.contains("regroup") && !o["regroup"].is_null()) {
    if (!o["regroup"].is_boolean()) return Bad("regroup", "expected true or false");
    s.regroup = o["regroup"].get<bool>();
  }
  DROVER_RETURN_IF_ERROR(OptionalInt(o, "", "step", 0, kMax, &s.step));
  DROVER_RETURN_IF_ERROR(OptionalInt(o, "", "epoch", 0, kMax, &s.epoch));
  DROVER_RETURN_IF_ERROR(OptionalNumber(o, "", "loss", &s.loss));
  DROVER_RETURN_IF_ERROR(OptionalNumber(o, "", "samples_per_s", &s.samples_per_s));
  DROVER_RETURN_IF_ERROR(OptionalInt(o, "", "world_size", 0, kMaxWorkers, &world_size));
  if (world_size) s.world_size = static_cast<int>(*world_size);
  if (o.contains("rescale") && !o["rescale"].is_null()) {
    const json& r = o["rescale"];
    if (!r.is_object()) return Bad("rescale", "expected {\"from\": N, \"to\": M, \"pause_ms\": T}");
    std::optional<int64_t> from, to;
    std::optional<double> pause;
    DROVER_RETURN_IF_ERROR(OptionalInt(r, "rescale.", "from", 0, kMaxWorkers, &from));
    DROVER_RETURN_IF_ERROR(OptionalInt(r, "rescale.", "to", 0, kMaxWorkers, &to));
    DROVER_RETURN_IF_ERROR(OptionalNumber(r, "rescale.", "pause_ms", &pause));
    if (!from) return Bad("rescale.from", "required: the number of workers before the resize");
    if (!to) return Bad("rescale.to", "required: the number of workers after the resize");
    if (!pause || *pause < 0) return Bad("rescale.pause_ms", "required: a number of milliseconds, at least 0");
    s.rescale = Rescale{0, static_cast<int>(*from), static_cast<int>(*to), *pause};
  }
  return s;
}

}  // namespace drover::server

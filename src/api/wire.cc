#include "api/wire.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <nlohmann/json.hpp>

namespace drover::api {
namespace {

using json = nlohmann::json;

constexpr int64_t kMaxInt64 = std::numeric_limits<int64_t>::max();
constexpr int64_t kMaxInt32 = std::numeric_limits<int32_t>::max();
constexpr int64_t kMaxRank = 1 << 20;
constexpr int64_t kMaxGpuIndex = 1 << 16;

// Where a decode is and how it fails: requests with kInvalidArgument, answers
// with kInternal and a prefix ("sync response: ").
struct Ctx {
  StatusCode code;
  std::string prefix;
  Status Bad(const std::string& field, const std::string& what) const {
    return {code, prefix + field + ": " + what};
  }
};

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

Result<json> Parse(const Ctx& c, const std::string& body) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return c.Bad("body", "expected a JSON object");
  return j;
}

std::string Field(const std::string& at, const char* name) { return at.empty() ? name : at + "." + name; }

bool Present(const json& o, const char* name) { return o.contains(name) && !o[name].is_null(); }

// An integer in [min, max]; absent or null gives `fallback`, or fails as required without one.
Result<int64_t> Int(const Ctx& c, const json& o, const std::string& at, const char* name, int64_t min, int64_t max,
                    std::optional<int64_t> fallback) {
  if (!Present(o, name)) {
    if (fallback) return *fallback;
    return c.Bad(Field(at, name), "required");
  }
  const json& v = o[name];
  bool in_range = false;
  if (v.is_number_unsigned()) {
    uint64_t u = v.get<uint64_t>();
    in_range = u <= static_cast<uint64_t>(max) && static_cast<int64_t>(u) >= min;
  } else if (v.is_number_integer()) {
    in_range = v.get<int64_t>() >= min && v.get<int64_t>() <= max;
  }
  if (!in_range) return c.Bad(Field(at, name), "expected an integer from " + std::to_string(min) + " to " + std::to_string(max));
  return v.get<int64_t>();
}

// Reads an optional integer into `out` (left unset when absent or null).
template <typename T>
Status OptInt(const Ctx& c, const json& o, const std::string& at, const char* name, int64_t min, int64_t max,
              std::optional<T>* out) {
  if (!Present(o, name)) return Status::Ok();
  auto v = Int(c, o, at, name, min, max, std::nullopt);
  if (!v.ok()) return v.status();
  *out = static_cast<T>(*v);
  return Status::Ok();
}

Status OptNumber(const Ctx& c, const json& o, const std::string& at, const char* name, std::optional<double>* out) {
  if (!Present(o, name)) return Status::Ok();
  if (!o[name].is_number()) return c.Bad(Field(at, name), "expected a number");
  *out = o[name].get<double>();
  return Status::Ok();
}

Status Bool(const Ctx& c, const json& o, const std::string& at, const char* name, bool* out) {
  if (!Present(o, name)) return Status::Ok();
  if (!o[name].is_boolean()) return c.Bad(Field(at, name), "expected true or false");
  *out = o[name].get<bool>();
  return Status::Ok();
}

// A string field; absent or null leaves `out` as it is unless `required`.
Status String(const Ctx& c, const json& o, const std::string& at, const char* name, bool required, std::string* out) {
  if (!Present(o, name)) return required ? c.Bad(Field(at, name), "required") : Status::Ok();
  if (!o[name].is_string()) return c.Bad(Field(at, name), "expected a string");
  *out = o[name].get<std::string>();
  return Status::Ok();
}

// A list field: each element is passed to `each(element, "name[i]")`; absent
// or null is an empty list unless `required`.
template <typename Fn>
Status List(const Ctx& c, const json& o, const std::string& at, const char* name, bool required, Fn each) {
  if (!Present(o, name)) return required ? c.Bad(Field(at, name), "required") : Status::Ok();
  if (!o[name].is_array()) return c.Bad(Field(at, name), "expected a list");
  const json& list = o[name];
  for (size_t i = 0; i < list.size(); ++i) {
    DROVER_RETURN_IF_ERROR(each(list[i], Field(at, name) + "[" + std::to_string(i) + "]"));
  }
  return Status::Ok();
}

json KeyFields(const WorkerKey& k) { return {{"job", k.job}, {"rank", k.rank}, {"generation", k.generation}}; }

Status ReadKey(const Ctx& c, const json& o, const std::string& at, bool generation_required, WorkerKey* key) {
  auto job = Int(c, o, at, "job", 0, kMaxInt64, std::nullopt);
  if (!job.ok()) return job.status();
  auto rank = Int(c, o, at, "rank", 0, kMaxRank, std::nullopt);
  if (!rank.ok()) return rank.status();
  auto gen = Int(c, o, at, "generation", 0, kMaxInt64, generation_required ? std::nullopt : std::optional<int64_t>(0));
  if (!gen.ok()) return gen.status();
  *key = {static_cast<uint64_t>(*job), static_cast<int>(*rank), static_cast<uint64_t>(*gen)};
  return Status::Ok();
}

Status Object(const Ctx& c, const json& v, const std::string& at) {
  return v.is_object() ? Status::Ok() : c.Bad(at, "expected an object");
}

const char* Name(ProcessState s) {
  switch (s) {
    case ProcessState::kRunning: return "running";
    case ProcessState::kStopping: return "stopping";
    case ProcessState::kExited: return "exited";
  }
  return "?";
}

const Ctx kRequest{StatusCode::kInvalidArgument, ""};

}  // namespace

std::string ToString(const WorkerKey& key) {
  return "job " + std::to_string(key.job) + " rank " + std::to_string(key.rank) + " gen " +
         std::to_string(key.generation);
}

int Membership::RankOf(int slot) const {
  int rank = 0;
  for (const Member& m : members) {
    if (m.state == WorkerState::kExited) continue;
    if (m.slot == slot) return rank;
    ++rank;
  }
  return -1;
}

bool Membership::Terminal() const { return IsTerminal(job_state) || job_state == JobState::kPreempted; }

bool Membership::AllReady() const {
  return std::all_of(members.begin(), members.end(),
                     [](const Member& m) { return m.ready || m.state == WorkerState::kExited; });
}

// -- registration ------------------------------------------------------------

std::string Encode(const RegisterRequest& r) {
  json gpus = json::array();
  for (const GpuInfo& g : r.gpus) {
    gpus.push_back({{"index", g.index}, {"uuid", g.uuid}, {"name", g.name}, {"memory_mib", g.memory_mib}});
  }
  json j = {{"name", r.name},  {"gpus", gpus},           {"gpu_slots", r.gpu_slots},
            {"cpus", r.cpus},  {"memory_mib", r.memory_mib}, {"version", r.version}};
  if (!r.previous_token.empty()) j["previous_token"] = r.previous_token;
  return Dump(j);
}

Result<RegisterRequest> DecodeRegisterRequest(const std::string& body) {
  const Ctx& c = kRequest;
  auto o = Parse(c, body);
  if (!o.ok()) return o.status();
  RegisterRequest r;
  DROVER_RETURN_IF_ERROR(String(c, *o, "", "name", true, &r.name));
  if (r.name.empty() || r.name.size() > 253) {
    return c.Bad("name", "expected a non-empty string of at most 253 characters");
  }
  auto slots = Int(c, *o, "", "gpu_slots", 0, 1 << 16, 0);
  if (!slots.ok()) return slots.status();
  auto cpus = Int(c, *o, "", "cpus", 0, 1 << 20, 0);
  if (!cpus.ok()) return cpus.status();
  auto mem = Int(c, *o, "", "memory_mib", 0, int64_t{1} << 40, 0);
  if (!mem.ok()) return mem.status();
  r.gpu_slots = static_cast<int>(*slots);
  r.cpus = static_cast<int>(*cpus);
  r.memory_mib = *mem;
  DROVER_RETURN_IF_ERROR(String(c, *o, "", "version", false, &r.version));
  DROVER_RETURN_IF_ERROR(String(c, *o, "", "previous_token", false, &r.previous_token));
  DROVER_RETURN_IF_ERROR(List(c, *o, "", "gpus", false, [&](const json& g, const std::string& at) -> Status {
    DROVER_RETURN_IF_ERROR(Object(c, g, at));
    GpuInfo info;
    auto index = Int(c, g, at, "index", 0, kMaxGpuIndex, std::nullopt);
    if (!index.ok()) return index.status();
    auto gmem = Int(c, g, at, "memory_mib", 0, int64_t{1} << 40, 0);
    if (!gmem.ok()) return gmem.status();
    info.index = static_cast<int>(*index);
    info.memory_mib = *gmem;
    DROVER_RETURN_IF_ERROR(String(c, g, at, "uuid", false, &info.uuid));
    DROVER_RETURN_IF_ERROR(String(c, g, at, "name", false, &info.name));
    r.gpus.push_back(std::move(info));
    return Status::Ok();
  }));
  return r;
}

std::string Encode(const RegisterResponse& r) {
  return Dump({{"host", r.host}, {"agent_token", r.agent_token}, {"heartbeat_timeout_s", r.heartbeat_timeout_s}});
}

Result<RegisterResponse> DecodeRegisterResponse(const std::string& body) {
  const Ctx c{StatusCode::kInternal, "register response: "};
  auto o = Parse(c, body);
  if (!o.ok()) return o.status();
  RegisterResponse r;
  DROVER_RETURN_IF_ERROR(String(c, *o, "", "agent_token", true, &r.agent_token));
  if (r.agent_token.empty()) return c.Bad("agent_token", "expected a non-empty string");
  DROVER_RETURN_IF_ERROR(String(c, *o, "", "host", false, &r.host));
  auto timeout = Int(c, *o, "", "heartbeat_timeout_s", 1, 86400, 10);
  if (!timeout.ok()) return timeout.status();
  r.heartbeat_timeout_s = static_cast<int>(*timeout);
  return r;
}

// -- sync ----------------------------------------------------------------------

std::string Encode(const SyncRequest& r) {
  json workers = json::array();
  for (const WorkerReport& w : r.workers) {
    json o = KeyFields(w.key);
    o["pid"] = w.pid;
    o["state"] = Name(w.state);
    if (w.state == ProcessState::kExited) {
      o["exit_code"] = w.exit_code;
      o["signal"] = w.signal;
      if (w.oom_killed) o["oom_killed"] = true;
    }
    workers.push_back(std::move(o));
  }
  json logs = json::array();
  for (const LogChunk& l : r.logs) {
    json o = KeyFields(l.key);
    o["offset"] = l.offset;
    o["data"] = l.data;
    logs.push_back(std::move(o));
  }
  json j = {{"host", r.host}, {"wait_ms", r.wait_ms}, {"workers", workers}, {"logs", logs}};
  if (r.leaving) j["leaving"] = true;
  return Dump(j);
}

Result<SyncRequest> DecodeSyncRequest(const std::string& body) {
  const Ctx& c = kRequest;
  auto o = Parse(c, body);
  if (!o.ok()) return o.status();
  SyncRequest r;
  DROVER_RETURN_IF_ERROR(String(c, *o, "", "host", false, &r.host));
  auto wait = Int(c, *o, "", "wait_ms", 0, kMaxInt32, 1000);
  if (!wait.ok()) return wait.status();
  r.wait_ms = static_cast<int>(std::min<int64_t>(*wait, kMaxSyncWaitMs));
  DROVER_RETURN_IF_ERROR(Bool(c, *o, "", "leaving", &r.leaving));
  DROVER_RETURN_IF_ERROR(List(c, *o, "", "workers", false, [&](const json& w, const std::string& at) -> Status {
    DROVER_RETURN_IF_ERROR(Object(c, w, at));
    WorkerReport report;
    DROVER_RETURN_IF_ERROR(ReadKey(c, w, at, true, &report.key));
    auto pid = Int(c, w, at, "pid", 0, kMaxInt32, 0);
    auto code = Int(c, w, at, "exit_code", 0, 255, 0);
    auto sig = Int(c, w, at, "signal", 0, 128, 0);
    for (const auto* f : {&pid, &code, &sig}) {
      if (!f->ok()) return f->status();
    }
    std::string state;
    DROVER_RETURN_IF_ERROR(String(c, w, at, "state", true, &state));
    if (state == "running") {
      report.state = ProcessState::kRunning;
    } else if (state == "stopping") {
      report.state = ProcessState::kStopping;
    } else if (state == "exited") {
      report.state = ProcessState::kExited;
    } else {
      return c.Bad(at + ".state", "expected running, stopping or exited");
    }
    report.pid = static_cast<int>(*pid);
    report.exit_code = static_cast<int>(*code);
    report.signal = static_cast<int>(*sig);
    DROVER_RETURN_IF_ERROR(Bool(c, w, at, "oom_killed", &report.oom_killed));
    r.workers.push_back(report);
    return Status::Ok();
  }));
  DROVER_RETURN_IF_ERROR(List(c, *o, "", "logs", false, [&](const json& l, const std::string& at) -> Status {
    DROVER_RETURN_IF_ERROR(Object(c, l, at));
    LogChunk chunk;
    DROVER_RETURN_IF_ERROR(ReadKey(c, l, at, false, &chunk.key));
    auto offset = Int(c, l, at, "offset", 0, kMaxInt64, 0);
    if (!offset.ok()) return offset.status();
    chunk.offset = static_cast<uint64_t>(*offset);
    DROVER_RETURN_IF_ERROR(String(c, l, at, "data", true, &chunk.data));
    r.logs.push_back(std::move(chunk));
    return Status::Ok();
  }));
  return r;
}

std::string Encode(const SyncResponse& r) {
  json workers = json::array();
  for (const DesiredWorker& d : r.workers) {
    json o = KeyFields(d.key);
    o["argv"] = d.argv;
    o["env"] = d.env;
    o["gpus"] = d.gpus;
    o["limits"] = {{"cpu_millis", d.cpu_millis}, {"memory_mib", d.memory_mib}};
    if (!d.run_as.empty()) o["run_as"] = d.run_as;
    workers.push_back(std::move(o));
  }
  return Dump({{"workers", workers}, {"kill_grace_s", r.kill_grace_s}});
}

Result<SyncResponse> DecodeSyncResponse(const std::string& body) {
  const Ctx c{StatusCode::kInternal, "sync response: "};
  auto o = Parse(c, body);
  if (!o.ok()) return o.status();
  SyncResponse r;
  DROVER_RETURN_IF_ERROR(List(c, *o, "", "workers", true, [&](const json& w, const std::string& at) -> Status {
    DROVER_RETURN_IF_ERROR(Object(c, w, at));
    DesiredWorker d;
    DROVER_RETURN_IF_ERROR(ReadKey(c, w, at, true, &d.key));
    DROVER_RETURN_IF_ERROR(List(c, w, at, "argv", true, [&](const json& a, const std::string& where) -> Status {
      if (!a.is_string()) return c.Bad(where, "expected a string");
      d.argv.push_back(a.get<std::string>());
      return Status::Ok();
    }));
    if (d.argv.empty()) return c.Bad(at + ".argv", "expected a non-empty list");
    if (Present(w, "env")) {
      if (!w["env"].is_object()) return c.Bad(at + ".env", "expected an object");
      for (const auto& [name, value] : w["env"].items()) {
        if (name.empty() || name.find('=') != std::string::npos) return c.Bad(at + ".env." + name, "not a variable name");
        if (!value.is_string()) return c.Bad(at + ".env." + name, "expected a string");
        d.env[name] = value.get<std::string>();
      }
    }
    DROVER_RETURN_IF_ERROR(List(c, w, at, "gpus", false, [&](const json& g, const std::string& where) -> Status {
      if (!g.is_number_integer() || g.get<int64_t>() < 0 || g.get<int64_t>() > kMaxGpuIndex) {
        return c.Bad(where, "expected a GPU index from 0 to " + std::to_string(kMaxGpuIndex));
      }
      d.gpus.push_back(g.get<int>());
      return Status::Ok();
    }));
    if (Present(w, "limits")) {
      const json& l = w["limits"];
      DROVER_RETURN_IF_ERROR(Object(c, l, at + ".limits"));
      auto cpu = Int(c, l, at + ".limits", "cpu_millis", 0, int64_t{1} << 40, 0);
      if (!cpu.ok()) return cpu.status();
      auto mem = Int(c, l, at + ".limits", "memory_mib", 0, int64_t{1} << 40, 0);
      if (!mem.ok()) return mem.status();
      d.cpu_millis = *cpu;
      d.memory_mib = *mem;
    }
    DROVER_RETURN_IF_ERROR(String(c, w, at, "run_as", false, &d.run_as));
    r.workers.push_back(std::move(d));
    return Status::Ok();
  }));
  auto grace = Int(c, *o, "", "kill_grace_s", 0, 86400, 10);
  if (!grace.ok()) return grace.status();
  r.kill_grace_s = static_cast<int>(*grace);
  return r;
}

// -- the training runtime ------------------------------------------------------

std::string Encode(const WorkerStatus& s) {
  json j = {{"generation", s.generation}, {"ready", s.ready}};
  if (s.regroup) j["regroup"] = true;
  if (s.step) j["step"] = *s.step;
  if (s.epoch) j["epoch"] = *s.epoch;
  if (s.loss) j["loss"] = *s.loss;  // NaN is written as null: not reported
  if (s.samples_per_s) j["samples_per_s"] = *s.samples_per_s;
  if (s.samples_left) j["samples_left"] = *s.samples_left;
  if (s.world_size) j["world_size"] = *s.world_size;
  if (s.port) j["port"] = *s.port;
  if (s.rescale) j["rescale"] = {{"from", s.rescale->from}, {"to", s.rescale->to}, {"pause_ms", s.rescale->pause_ms}};
  if (s.perf) {
    const StepPerf& p = *s.perf;
    json& o = j["perf"] = {{"steps", p.steps},   {"global_batch", p.global_batch}, {"local_batch", p.local_batch},
                           {"step_s", p.step_s}, {"compute_s", p.compute_s}};
    if (p.local_grad_sqr) o["local_grad_sqr"] = *p.local_grad_sqr;
    if (p.global_grad_sqr) o["global_grad_sqr"] = *p.global_grad_sqr;
    if (p.max_batch) o["max_batch"] = *p.max_batch;
  }
  return Dump(j);
}

Result<WorkerStatus> DecodeWorkerStatus(const std::string& body) {
  const Ctx& c = kRequest;
  auto o = Parse(c, body);
  if (!o.ok()) return o.status();
  WorkerStatus s;
  auto generation = Int(c, *o, "", "generation", 0, kMaxInt64, std::nullopt);
  if (!generation.ok()) {
    return c.Bad("generation", "required: the membership generation the worker has joined, an integer from 0");
  }
  s.generation = *generation;
  DROVER_RETURN_IF_ERROR(Bool(c, *o, "", "ready", &s.ready));
  DROVER_RETURN_IF_ERROR(Bool(c, *o, "", "regroup", &s.regroup));
  DROVER_RETURN_IF_ERROR(OptInt(c, *o, "", "step", 0, kMaxInt64, &s.step));
  DROVER_RETURN_IF_ERROR(OptInt(c, *o, "", "epoch", 0, kMaxInt64, &s.epoch));
  DROVER_RETURN_IF_ERROR(OptNumber(c, *o, "", "loss", &s.loss));
  DROVER_RETURN_IF_ERROR(OptNumber(c, *o, "", "samples_per_s", &s.samples_per_s));
  DROVER_RETURN_IF_ERROR(OptNumber(c, *o, "", "samples_left", &s.samples_left));
  if (s.samples_left && !(*s.samples_left >= 0 && std::isfinite(*s.samples_left))) {
    return c.Bad("samples_left", "expected a number of samples, at least 0");
  }
  DROVER_RETURN_IF_ERROR(OptInt(c, *o, "", "world_size", 0, kMaxRank, &s.world_size));
  DROVER_RETURN_IF_ERROR(OptInt(c, *o, "", "port", 1, 65535, &s.port));
  if (Present(*o, "rescale")) {
    const json& r = (*o)["rescale"];
    if (!r.is_object()) return c.Bad("rescale", "expected {\"from\": N, \"to\": M, \"pause_ms\": T}");
    auto from = Int(c, r, "rescale", "from", 0, kMaxRank, std::nullopt);
    if (!from.ok()) return c.Bad("rescale.from", "required: the number of workers before the resize");
    auto to = Int(c, r, "rescale", "to", 0, kMaxRank, std::nullopt);
    if (!to.ok()) return c.Bad("rescale.to", "required: the number of workers after the resize");
    std::optional<double> pause;
    DROVER_RETURN_IF_ERROR(OptNumber(c, r, "rescale", "pause_ms", &pause));
    if (!pause || *pause < 0) return c.Bad("rescale.pause_ms", "required: a number of milliseconds, at least 0");
    s.rescale = WorkerStatus::Rescale{static_cast<int>(*from), static_cast<int>(*to), *pause};
  }
  if (Present(*o, "perf")) {
    const json& p = (*o)["perf"];
    if (!p.is_object()) return c.Bad("perf", "expected an object of step measurements");
    StepPerf perf;
    auto steps = Int(c, p, "perf", "steps", 1, kMaxInt64, std::nullopt);
    if (!steps.ok()) return c.Bad("perf.steps", "required: the number of steps measured, at least 1");
    perf.steps = *steps;
    // Every measure is a positive finite number; compute is part of the step.
    auto positive = [&](const char* key, double* out) -> Status {
      std::optional<double> v;
      DROVER_RETURN_IF_ERROR(OptNumber(c, p, "perf", key, &v));
      if (!v || !(*v > 0) || !std::isfinite(*v)) return c.Bad(std::string("perf.") + key, "required: a number above 0");
      *out = *v;
      return Status::Ok();
    };
    DROVER_RETURN_IF_ERROR(positive("global_batch", &perf.global_batch));
    DROVER_RETURN_IF_ERROR(positive("local_batch", &perf.local_batch));
    DROVER_RETURN_IF_ERROR(positive("step_s", &perf.step_s));
    DROVER_RETURN_IF_ERROR(positive("compute_s", &perf.compute_s));
    if (perf.compute_s > perf.step_s * (1 + 1e-9)) return c.Bad("perf.compute_s", "cannot exceed perf.step_s");
    if (perf.local_batch > perf.global_batch) return c.Bad("perf.local_batch", "cannot exceed perf.global_batch");
    for (auto [key, out] :
         {std::pair{"local_grad_sqr", &perf.local_grad_sqr}, {"global_grad_sqr", &perf.global_grad_sqr}}) {
      DROVER_RETURN_IF_ERROR(OptNumber(c, p, "perf", key, out));
      if (*out && !(**out >= 0 && std::isfinite(**out))) {
        return c.Bad(std::string("perf.") + key, "expected a number of at least 0");
      }
    }
    DROVER_RETURN_IF_ERROR(OptNumber(c, p, "perf", "max_batch", &perf.max_batch));
    if (perf.max_batch && !(*perf.max_batch >= perf.global_batch && std::isfinite(*perf.max_batch))) {
      return c.Bad("perf.max_batch", "expected a number of at least perf.global_batch");
    }
    s.perf = perf;
  }
  return s;
}

std::string Encode(const Membership& m) {
  json members = json::array();
  for (const Member& w : m.members) {
    members.push_back({{"rank", w.slot},
                       {"host", w.host},
                       {"generation", w.generation},
                       {"state", Name(w.state)},
                       {"address", w.address},
                       {"ready", w.ready}});
  }
  return Dump({{"job", m.job}, {"state", Name(m.job_state)}, {"generation", m.generation}, {"members", members}});
}

Result<Membership> DecodeMembership(const std::string& body) {
  const Ctx c{StatusCode::kInternal, "members response: "};
  auto o = Parse(c, body);
  if (!o.ok()) return o.status();
  Membership m;
  auto job = Int(c, *o, "", "job", 0, kMaxInt64, 0);
  if (!job.ok()) return job.status();
  auto generation = Int(c, *o, "", "generation", 0, kMaxInt64, std::nullopt);
  if (!generation.ok()) return generation.status();
  m.job = static_cast<uint64_t>(*job);
  m.generation = *generation;
  std::string state;
  DROVER_RETURN_IF_ERROR(String(c, *o, "", "state", true, &state));
  std::optional<JobState> js = ParseJobState(state);
  if (!js) return c.Bad("state", "not a job state: " + state);
  m.job_state = *js;
  DROVER_RETURN_IF_ERROR(List(c, *o, "", "members", true, [&](const json& w, const std::string& at) -> Status {
    DROVER_RETURN_IF_ERROR(Object(c, w, at));
    Member member;
    auto slot = Int(c, w, at, "rank", 0, kMaxRank, std::nullopt);
    if (!slot.ok()) return slot.status();
    auto gen = Int(c, w, at, "generation", 0, kMaxInt64, 0);
    if (!gen.ok()) return gen.status();
    member.slot = static_cast<int>(*slot);
    member.generation = *gen;
    DROVER_RETURN_IF_ERROR(String(c, w, at, "host", false, &member.host));
    DROVER_RETURN_IF_ERROR(String(c, w, at, "address", false, &member.address));
    std::string ws;
    DROVER_RETURN_IF_ERROR(String(c, w, at, "state", true, &ws));
    std::optional<WorkerState> parsed = ParseWorkerState(ws);
    if (!parsed) return c.Bad(at + ".state", "not a worker state: " + ws);
    member.state = *parsed;
    DROVER_RETURN_IF_ERROR(Bool(c, w, at, "ready", &member.ready));
    m.members.push_back(std::move(member));
    return Status::Ok();
  }));
  return m;
}

}  // namespace drover::api

// Agents: registration with the join token, and each host's sync (its
// workers' state and output in, the workers it should run out, long-polled).
#include <algorithm>
#include <chrono>
#include <filesystem>

#include <httplib.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "api/wire.h"
#include "server/http_util.h"
#include "server/server.h"

namespace drover::server {
namespace {

// The host a registration describes: its capacity and GPUs.
store::HostRecord HostOf(const api::RegisterRequest& r) {
  store::HostRecord h;
  h.name = r.name;
  h.capacity = {r.gpu_slots, int64_t{r.cpus} * 1000, r.memory_mib};
  nlohmann::json gpus = nlohmann::json::array();
  for (const api::GpuInfo& g : r.gpus) {
    gpus.push_back({{"index", g.index}, {"uuid", g.uuid}, {"name", g.name}, {"memory_mib", g.memory_mib}});
  }
  h.gpus_json = gpus.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return h;
}

}  // namespace

void Server::AgentRoutes(Router& router) {
  router.Post("/api/v1/agent/register", {Role::kJoin}, [this](const Principal&, const httplib::Request& req,
                                                              httplib::Response& res) {
    Result<api::RegisterRequest> decoded = api::DecodeRegisterRequest(req.body);
    if (!decoded.ok()) return Fail(res, decoded.status());
    store::HostRecord host = HostOf(*decoded);
    std::string token = NewToken("a");
    store::TokenRecord t{Sha256Hex(token), "agent", host.name, 0, Now()};
    Status st = Mutate([&](store::WriteBatch* batch) -> Status {
      // A host that is up belongs to the agent holding its token: another
      // registration under its name must prove to be that agent (its
      // previous token), else it could take over the host's jobs and tokens.
      auto known = model_.hosts().find(host.name);
      if (known != model_.hosts().end() && known->second.rec.state == "up") {
        const std::string proof = decoded->previous_token.empty() ? "" : Sha256Hex(decoded->previous_token);
        bool held_by_other = std::any_of(tokens_.begin(), tokens_.end(), [&](const auto& kv) {
          return kv.second.kind == "agent" && kv.second.user == host.name && kv.first != proof;
        });
        if (held_by_other) {
          return AlreadyExists("host " + host.name + " is up and held by another agent; stop that agent (or wait " +
                               "for its heartbeat timeout) before registering this one under its name");
        }
      }
      if (known != model_.hosts().end() && known->second.rec.state == "revoked") {
        return PermissionDenied("host " + host.name + " was revoked by an admin; `drover host admit " + host.name +
                                "` lets an agent register under its name again");
      }
      RevokeTokensLocked("agent", host.name, batch);  // an agent registering again replaces its previous token
      tokens_[t.sha256] = t;
      batch->tokens.push_back(t);
      model_.RegisterHost(host, req.remote_addr == "::1" ? "127.0.0.1" : req.remote_addr, Now(), batch);
      Trigger();
      return Status::Ok();
    });
    if (!st.ok()) return Fail(res, st);
    spdlog::info("host {} registered: {}", host.name, host.capacity.ToString());
    api::RegisterResponse answer{host.name, token, static_cast<int>(opt_.heartbeat_timeout)};
    ReplyEncoded(res, api::Encode(answer));
  });

  // Rotating the join token: the old one stops working at once (hosts already
  // registered keep their own credentials); the new one is answered once and
  // written to the data dir's join.token (0600) for agents on this host.
  router.Post("/api/v1/join-token/rotate", kAdmins, [this](const Principal& who, const httplib::Request&,
                                                           httplib::Response& res) {
    std::string token = NewToken("j");
    store::TokenRecord t{Sha256Hex(token), "join", "", 0, Now()};
    Status st = Mutate([&](store::WriteBatch* batch) -> Status {
      RevokeTokensLocked("join", "", batch);
      tokens_[t.sha256] = t;
      batch->tokens.push_back(t);
      return Status::Ok();
    });
    if (!st.ok()) return Fail(res, st);
    const std::string path = (std::filesystem::path(opt_.data_dir) / "join.token").string();
    Status written = ReplaceSecretFile(path, token);
    if (!written.ok()) spdlog::error("join token rotated but {} not updated: {}", path, written.message());
    spdlog::warn("join token rotated by {}: the previous one no longer registers agents", who.name);
    Reply(res, 200, {{"token", token}, {"file", written.ok() ? json(path) : json(nullptr)}});
  });

  // A long poll: answered at once when the host should change what it runs,
  // else parked (no thread held) until it should or `wait_ms` has passed.
  router.PostWaiting("/api/v1/agent/sync", {Role::kAgent}, [this](const Principal& who, const httplib::Request& req,
                                                                  httplib::Response& res) -> std::optional<Wait> {
    Result<api::SyncRequest> decoded = api::DecodeSyncRequest(req.body);
    if (!decoded.ok()) {
      Fail(res, decoded.status());
      return std::nullopt;
    }
    const std::vector<WorkerReport>& report = decoded->workers;
    // Output is accepted only for workers the server placed on this host
    // (now, or last: a removed worker's last lines arrive after it).
    std::vector<api::LogChunk> logs;
    size_t refused = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (api::LogChunk& c : decoded->logs) {
        if (model_.Placed(who.name, c.key.job, c.key.rank) || logs_->WrittenBy(c.key.job, c.key.rank) == who.name) {
          logs.push_back(std::move(c));
        } else {
          ++refused;
        }
      }
    }
    if (refused) spdlog::warn("host {} sent output of {} worker(s) not placed on it: ignored", who.name, refused);
    // Before the exits they explain are recorded; output that cannot be
    // stored fails the sync, so the agent keeps it and sends it again.
    if (Status stored = logs_->Append(who.name, logs); !stored.ok()) {
      spdlog::error("host {}: {}", who.name, stored.message());
      Fail(res, stored);
      return std::nullopt;
    }
    if (decoded->leaving) {
      Status st = Mutate([&](store::WriteBatch* batch) -> Status {
        DROVER_RETURN_IF_ERROR(model_.HostLeaving(who.name, Now(), batch));
        Trigger();
        return Status::Ok();
      });
      if (st.ok()) {
        spdlog::info("host {} is leaving: down now", who.name);
        ReplyEncoded(res, api::Encode(api::SyncResponse{}));
      } else {
        Fail(res, st);
      }
      return std::nullopt;
    }
    std::vector<DesiredWorker> desired;
    bool answer_now = false;
    uint64_t seen = 0;
    Status st = Mutate([&](store::WriteBatch* batch) -> Status {
      if (!model_.hosts().count(who.name)) return NotFound("host " + who.name + " is not registered");
      ScanMetricsLocked(logs, Now(), batch);
      desired = model_.Sync(who.name, report, Now(), env_ctx_, batch, decoded->wait_ms / 1000.0);
      bool changed = !batch->empty();
      if (changed) Trigger();
      answer_now = changed || model_.NeedsChange(who.name, report);
      seen = version_;
      return Status::Ok();
    });
    if (!st.ok() || answer_now) {
      if (st.ok()) {
        ReplyEncoded(res, api::Encode(api::SyncResponse{std::move(desired)}));
      } else {
        Fail(res, st);
      }
      return std::nullopt;
    }
    std::vector<WorkerReport> running;
    for (const auto& r : report) {
      if (r.state == ProcessState::kRunning) running.push_back(r);
    }
    Wait wait;
    wait.timeout = std::chrono::milliseconds(decoded->wait_ms);
    wait.poll = [this, host = who.name, running = std::move(running), seen](httplib::Response& out, bool timed_out) {
      std::lock_guard<std::mutex> lock(mu_);
      if (!timed_out && !stopping_ && (version_ == seen || !model_.NeedsChange(host, running))) return false;
      ReplyEncoded(out, api::Encode(api::SyncResponse{model_.Desired(host, env_ctx_)}));
      return true;
    };
    return wait;
  });
}

}  // namespace drover::server
